package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat. The
// kernel fixes it at 100 on every architecture Go supports on Linux (it is
// what sysconf(_SC_CLK_TCK) returns; Go has no sysconf without cgo).
const clockTicks = 100

// CPUTime is the user and system CPU a process has used.
type CPUTime struct {
	User, Sys time.Duration
}

// Total is user + system.
func (c CPUTime) Total() time.Duration { return c.User + c.Sys }

// Sub is the usage between two samples.
func (c CPUTime) Sub(before CPUTime) CPUTime {
	return CPUTime{User: c.User - before.User, Sys: c.Sys - before.Sys}
}

// ReadCPUTime reads utime and stime of a process (all its threads) from
// /proc/PID/stat, at the kernel's 10 ms resolution.
func ReadCPUTime(pid int) (CPUTime, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return CPUTime{}, fmt.Errorf("pid %d: %w", pid, err)
	}
	c, err := parseProcStat(b)
	if err != nil {
		return CPUTime{}, fmt.Errorf("pid %d: %w", pid, err)
	}
	return c, nil
}

// parseProcStat reads fields 14 (utime) and 15 (stime) of a /proc/PID/stat
// line. Field 2, the command name in parentheses, may itself hold spaces and
// parentheses, so counting starts after the last ')'.
func parseProcStat(b []byte) (CPUTime, error) {
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return CPUTime{}, fmt.Errorf("malformed stat line %q", truncate(b))
	}
	fields := bytes.Fields(b[end+1:]) // fields[0] is field 3 (state)
	if len(fields) < 13 {
		return CPUTime{}, fmt.Errorf("short stat line %q", truncate(b))
	}
	utime, err1 := strconv.ParseInt(string(fields[11]), 10, 64)
	stime, err2 := strconv.ParseInt(string(fields[12]), 10, 64)
	if err1 != nil || err2 != nil || utime < 0 || stime < 0 {
		return CPUTime{}, fmt.Errorf("bad utime/stime in %q", truncate(b))
	}
	tick := time.Second / clockTicks
	return CPUTime{User: time.Duration(utime) * tick, Sys: time.Duration(stime) * tick}, nil
}

// SelfCPUTime is this process's CPU use (getrusage, microsecond resolution).
func SelfCPUTime() (CPUTime, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return CPUTime{}, fmt.Errorf("getrusage: %w", err)
	}
	return CPUTime{User: time.Duration(ru.Utime.Nano()), Sys: time.Duration(ru.Stime.Nano())}, nil
}

func sampleCPU(pids []int) ([]CPUTime, error) {
	out := make([]CPUTime, len(pids))
	for i, pid := range pids {
		c, err := ReadCPUTime(pid)
		if err != nil {
			return nil, fmt.Errorf("reading server CPU: %w", err)
		}
		out[i] = c
	}
	return out, nil
}

// MachineCPU is the whole machine's CPU time from the first line of /proc/stat.
type MachineCPU struct {
	Busy, Total time.Duration // Total includes idle and iowait; Busy does not
	Cores       int
}

// ReadMachineCPU reads /proc/stat.
func ReadMachineCPU() (MachineCPU, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return MachineCPU{}, err
	}
	return parseProcStatCPU(b)
}

// parseProcStatCPU sums the "cpu" line (user nice system idle iowait irq
// softirq steal ...; guest time is already inside user) and counts the
// "cpuN" lines.
func parseProcStatCPU(b []byte) (MachineCPU, error) {
	var m MachineCPU
	found := false
	for _, line := range bytes.Split(b, []byte("\n")) {
		f := bytes.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch name := string(f[0]); {
		case name == "cpu":
			if len(f) < 5 {
				return m, fmt.Errorf("short cpu line in /proc/stat")
			}
			found = true
			for i, v := range f[1:min(len(f), 9)] { // user..steal
				n, err := strconv.ParseInt(string(v), 10, 64)
				if err != nil {
					return m, fmt.Errorf("bad /proc/stat cpu field %q", v)
				}
				d := time.Duration(n) * (time.Second / clockTicks)
				m.Total += d
				if i != 3 && i != 4 { // idle, iowait
					m.Busy += d
				}
			}
		case len(name) > 3 && name[:3] == "cpu":
			m.Cores++
		}
	}
	if !found {
		return m, fmt.Errorf("no cpu line in /proc/stat")
	}
	return m, nil
}
