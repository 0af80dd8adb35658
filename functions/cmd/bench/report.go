package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// row is one line of the table: an operation's metrics and the floor it is
// compared with.
type row struct {
	name  string
	m     phase
	floor phase
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// micros prints a CPU cost, or "-" when it was not measured.
func micros(v float64) string {
	if v < 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", v)
}

func report(w io.Writer, rows []row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "operation\trequests\tok/s\tp50 ms\tp95 ms\tp99 ms\tmax ms\terrors\tvs floor\tCPU µs/req: server\tredis\tload gen\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%d\t%.3f\t%s\t%s\t%s\t\n", r.name, r.m.requests, r.m.okPerSec,
			ms(r.m.p50), ms(r.m.p95), ms(r.m.p99), ms(r.m.max),
			r.m.errors, r.m.okPerSec/r.floor.okPerSec, micros(r.m.cpu.server), micros(r.m.cpu.redis), micros(r.m.cpu.self))
	}
	tw.Flush()
	for _, r := range rows {
		if len(r.m.errorDetail) > 0 {
			fmt.Fprintf(w, "%s errors: %v\n", r.name, r.m.errorDetail)
		}
		if codes := r.m.codes; len(codes) > 1 {
			fmt.Fprintf(w, "%s status codes: %v\n", r.name, codes)
		}
	}
}
