package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// row is one line of the table: an operation's metrics and the floor it is
// compared with.
type row struct {
	name  string
	m     *vegeta.Metrics
	floor *vegeta.Metrics
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func report(w io.Writer, rows []row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "operation\trequests\tok/s\tp50 ms\tp95 ms\tp99 ms\tmax ms\terrors\tvs floor\t")
	for _, r := range rows {
		errs := r.m.Requests - uint64(r.m.Success*float64(r.m.Requests)+0.5)
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%d\t%.3f\t\n", r.name, r.m.Requests, r.m.Throughput,
			ms(r.m.Latencies.P50), ms(r.m.Latencies.P95), ms(r.m.Latencies.P99), ms(r.m.Latencies.Max),
			errs, r.m.Throughput/r.floor.Throughput)
	}
	tw.Flush()
	for _, r := range rows {
		if len(r.m.Errors) > 0 {
			fmt.Fprintf(w, "%s errors: %v\n", r.name, r.m.Errors)
		}
		if codes := r.m.StatusCodes; len(codes) > 1 {
			fmt.Fprintf(w, "%s status codes: %v\n", r.name, codes)
		}
	}
}
