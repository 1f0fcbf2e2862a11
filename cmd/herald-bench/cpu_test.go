package main

import (
	"os"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	// A command name with spaces and parentheses; utime 1234, stime 56 ticks.
	line := "4242 (my (odd) cmd) S 1 4242 4242 0 -1 4194560 1500 0 0 0 1234 56 0 0 20 0 9 0 100 200000 300 18446744073709551615\n"
	c, err := parseProcStat([]byte(line))
	if err != nil || c.User != 12340*time.Millisecond || c.Sys != 560*time.Millisecond || c.Total() != 12900*time.Millisecond {
		t.Fatalf("parseProcStat = %+v, %v", c, err)
	}
	for _, bad := range []string{"", "12 (x) S 1 2", "12 (x) S 1 2 3 4 5 6 7 8 9 10 x 0", "no paren S 1 2 3 4 5 6 7 8 9 10 11 12 13"} {
		if _, err := parseProcStat([]byte(bad)); err == nil {
			t.Errorf("parseProcStat(%q): want error", bad)
		}
	}
	if d := (CPUTime{User: 3, Sys: 5}).Sub(CPUTime{User: 1, Sys: 2}); d != (CPUTime{User: 2, Sys: 3}) {
		t.Errorf("Sub = %+v", d)
	}
}

func TestReadCPUTimeSelf(t *testing.T) {
	// Burn a little CPU so both readings are non-zero on a 10 ms clock.
	deadline := time.Now().Add(30 * time.Millisecond)
	for x := 0; time.Now().Before(deadline); x++ {
		_ = x * x
	}
	proc, err := ReadCPUTime(os.Getpid())
	if err != nil || proc.Total() <= 0 {
		t.Fatalf("ReadCPUTime(self) = %+v, %v", proc, err)
	}
	self, err := SelfCPUTime()
	if err != nil || self.Total() <= 0 {
		t.Fatalf("SelfCPUTime = %+v, %v", self, err)
	}
	if _, err := ReadCPUTime(1 << 30); err == nil {
		t.Error("nonexistent pid: want error")
	}
}

func TestParseProcStatCPU(t *testing.T) {
	stat := "cpu  100 5 50 1000 20 1 4 2 7 0\ncpu0 50 2 25 500 10 0 2 1 0 0\ncpu1 50 3 25 500 10 1 2 1 0 0\nintr 12345\nctxt 999\n"
	m, err := parseProcStatCPU([]byte(stat))
	// busy = user+nice+system+irq+softirq+steal = 100+5+50+1+4+2 = 162 ticks; total adds idle+iowait
	if err != nil || m.Busy != 1620*time.Millisecond || m.Total != 11820*time.Millisecond || m.Cores != 2 {
		t.Fatalf("parseProcStatCPU = %+v, %v", m, err)
	}
	for _, bad := range []string{"", "intr 1\n", "cpu 1 2\n", "cpu 1 x 3 4 5\n"} {
		if _, err := parseProcStatCPU([]byte(bad)); err == nil {
			t.Errorf("parseProcStatCPU(%q): want error", bad)
		}
	}
	if m, err := ReadMachineCPU(); err != nil || m.Cores < 1 || m.Total <= 0 {
		t.Errorf("ReadMachineCPU = %+v, %v", m, err)
	}
}
