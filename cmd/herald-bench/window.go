package main

// The measurement window of the message scenarios (fanout, users): CPU of the
// servers, of this process and of the whole machine, and the cluster's Redis
// counters, sampled when the window opens (just before the first send) and when
// it closes (after the drain).

import (
	"context"
	"os"
	"time"
)

// Usage is what the servers, this client, the rest of the machine and Redis
// spent in a measurement window.
type Usage struct {
	Window         time.Duration // before the first send → after the drain
	ServerCPU      []PIDCPU
	ServerCPUTotal PIDCPU // sums; PID 0
	ClientCPU      PIDCPU // this process; PID is ours
	// MachineBusy is the CPU the whole machine used in the window (all cores;
	// Percent is of one core, so 200 = two cores busy), and OtherCPU what is
	// left of it after the servers, this client and Redis: other processes and
	// the kernel's own threads (ksoftirqd). A large OtherCPU means the run shared
	// the machine with something else. Zero when /proc/stat is unreadable.
	MachineBusy PIDCPU
	OtherCPU    PIDCPU
	Cores       int
	// Redis is what the cluster's Redis did in the window; nil without a Redis
	// address.
	Redis *RedisUsage
}

// usageWindow holds the samples of one window. It is used by one goroutine.
type usageWindow struct {
	pids                    []int
	redisAddr               string
	start                   time.Time
	window                  time.Duration
	srvBefore, srvAfter     []CPUTime
	selfBefore, selfAfter   CPUTime
	machBefore, machAfter   MachineCPU
	machErr                 error
	redisBefore, redisAfter RedisInfo
	redisErr                error
}

// openUsageWindow takes the "before" samples. redisAddr may be empty.
func openUsageWindow(ctx context.Context, pids []int, redisAddr string) (*usageWindow, error) {
	w := &usageWindow{pids: pids, redisAddr: redisAddr}
	var err error
	if redisAddr != "" {
		if w.redisBefore, err = SampleRedis(ctx, redisAddr); err != nil {
			return nil, err
		}
	}
	if w.srvBefore, err = sampleCPU(pids); err != nil {
		return nil, err
	}
	if w.selfBefore, err = SelfCPUTime(); err != nil {
		return nil, err
	}
	w.machBefore, w.machErr = ReadMachineCPU()
	w.start = time.Now()
	return w, nil
}

// close takes the "after" samples. A failed Redis sample is kept for usage to
// report; a failed CPU sample is returned.
func (w *usageWindow) close() error {
	var err error
	if w.srvAfter, err = sampleCPU(w.pids); err != nil {
		return err
	}
	if w.selfAfter, err = SelfCPUTime(); err != nil {
		return err
	}
	var machErr error
	w.machAfter, machErr = ReadMachineCPU()
	if w.machErr == nil {
		w.machErr = machErr
	}
	if w.redisAddr != "" {
		// Not the run's context: a timed-out run still gets its Redis figures.
		w.redisAfter, w.redisErr = SampleRedis(context.Background(), w.redisAddr)
	}
	w.window = time.Since(w.start)
	return nil
}

// usage computes the window's figures, per delivery and per message sent. The
// error is the Redis sample's, when it failed (the rest is still filled in).
func (w *usageWindow) usage(sent, delivered int64) (Usage, error) {
	u := Usage{Window: w.window}
	cpu := func(pid int, used CPUTime) PIDCPU {
		p := PIDCPU{PID: pid, UserSec: used.User.Seconds(), SysSec: used.Sys.Seconds(), TotalSec: used.Total().Seconds()}
		if w.window > 0 {
			p.Percent = 100 * p.TotalSec / w.window.Seconds()
		}
		if delivered > 0 {
			p.USPerDelivery = 1e6 * p.TotalSec / float64(delivered)
		}
		return p
	}
	var total CPUTime
	for i, pid := range w.pids {
		used := w.srvAfter[i].Sub(w.srvBefore[i])
		total.User += used.User
		total.Sys += used.Sys
		u.ServerCPU = append(u.ServerCPU, cpu(pid, used))
	}
	u.ServerCPUTotal = cpu(0, total)
	self := w.selfAfter.Sub(w.selfBefore)
	u.ClientCPU = cpu(os.Getpid(), self)
	var redisCPU time.Duration
	if w.redisAddr != "" && w.redisErr == nil {
		u.Redis = redisUsage(w.redisAddr, w.redisBefore, w.redisAfter, w.window, sent, delivered)
		redisCPU = w.redisAfter.CPU.Sub(w.redisBefore.CPU).Total()
	}
	if w.machErr == nil {
		busy := w.machAfter.Busy - w.machBefore.Busy
		u.Cores = w.machAfter.Cores
		u.MachineBusy = cpu(0, CPUTime{User: busy})
		u.OtherCPU = cpu(0, CPUTime{User: max(busy-total.Total()-self.Total()-redisCPU, 0)})
	}
	return u, w.redisErr
}
