package main

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// clockTicks is Linux's USER_HZ, the unit of /proc/<pid>/stat's CPU times;
// it is 100 on every architecture Go supports on Linux.
const clockTicks = 100

// cpuMeter reads the CPU time (user + system) the server, Redis and this
// process have used, so a phase can report the CPU each request cost
// every party. Unlike requests per second, CPU per request hardly moves
// when something else shares the machine, so it shows what a change saved.
type cpuMeter struct {
	serverPID, redisPID int // 0: not measurable
}

// cpuSample is one reading.
type cpuSample struct{ server, redis, self time.Duration }

// newCPUMeter finds Redis's process when it runs on this machine (INFO's
// process_id names a redis-server in /proc); a remote Redis is left out.
func newCPUMeter(ctx context.Context, rdb *redis.Client, serverPID int) cpuMeter {
	m := cpuMeter{serverPID: serverPID}
	info, err := rdb.Info(ctx, "server").Result()
	if err != nil {
		return m
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			pid, err := strconv.Atoi(v)
			comm, _ := os.ReadFile("/proc/" + v + "/comm")
			if err == nil && strings.HasPrefix(string(comm), "redis") {
				m.redisPID = pid
			}
		}
	}
	return m
}

func (m cpuMeter) sample() cpuSample {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return cpuSample{server: procCPU(m.serverPID), redis: procCPU(m.redisPID),
		self: time.Duration(ru.Utime.Nano() + ru.Stime.Nano())}
}

// procCPU is a process's user + system CPU time, or -1 when unknown.
func procCPU(pid int) time.Duration {
	if pid == 0 {
		return -1
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	// The command name (field 2) may hold spaces; fields after ")" are
	// fixed: utime and stime are the 12th and 13th.
	rest := string(b)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	f := strings.Fields(rest)
	if len(f) < 13 {
		return -1
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return time.Duration(u+s) * time.Second / clockTicks
}

// perRequest is the CPU each party spent per request between two samples.
type perRequest struct{ server, redis, self float64 } // µs; negative: unknown

func (a cpuSample) per(b cpuSample, requests uint64) perRequest {
	us := func(x, y time.Duration) float64 {
		if x < 0 || y < 0 || requests == 0 {
			return -1
		}
		return float64(y-x) / float64(time.Microsecond) / float64(requests)
	}
	return perRequest{server: us(a.server, b.server), redis: us(a.redis, b.redis), self: us(a.self, b.self)}
}

// withLoad adds a load generator's CPU time (a child process's) to self.
func (p perRequest) withLoad(cpu time.Duration, requests uint64) perRequest {
	if requests == 0 || p.self < 0 {
		p.self = -1
		return p
	}
	p.self += float64(cpu) / float64(time.Microsecond) / float64(requests)
	return p
}
