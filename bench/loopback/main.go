// Command loopback measures the floor under every fan-out figure in BENCHMARKS.md:
// what one small write to a loopback TCP connection and its read cost on this
// machine, with no WebSocket, Socket.IO or Herald code at all.
//
// It opens C connection pairs, then writes a P-byte message to each server side,
// R rounds (C × R writes, one write system call each, as a fan-out that cannot
// coalesce sends), while one goroutine per client side reads. It prints the wall
// time of the write loop and the process CPU per message, writer and readers
// together (on loopback the kernel does the receiver's TCP work inside the
// sender's write).
//
// With -rate, the rounds are paced at that many a second, like a fan-out of R msg/s to
// C subscribers: each message carries the round's start time, -writers goroutines
// write a share of the connections each (as the write workers of a node, or of two),
// and the readers report the latency of every message (arrival − round start). That is
// the floor under the fan-out latency figures: the same kernel work with no Herald,
// Socket.IO, WebSocket or Redis code, and the readers in the same process.
//
//	go run ./bench/loopback -c 1000 -r 100 -p 100
//	go run ./bench/loopback -c 1000 -r 1000 -p 100 -rate 100 -writers 2
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"
)

func main() {
	conns := flag.Int("c", 1000, "connection pairs")
	rounds := flag.Int("r", 100, "messages per connection")
	size := flag.Int("p", 100, "message size, bytes")
	rate := flag.Int("rate", 0, "rounds per second (0: back to back); reports each message's latency")
	writers := flag.Int("writers", 1, "writing goroutines, each with its share of the connections")
	flag.Parse()
	if *conns < 1 || *rounds < 1 || *size < 1 || *conns > 10000 || *rounds*(*size) > 1<<30 || *rate < 0 ||
		*writers < 1 || *writers > *conns || *rate > 0 && *size < 8 {
		fmt.Fprintln(os.Stderr, "loopback: want 1 ≤ -c ≤ 10000, -r ≥ 1, -p ≥ 1, r×p ≤ 1 GiB, -rate ≥ 0, 1 ≤ -writers ≤ -c, -p ≥ 8 with -rate")
		os.Exit(2)
	}
	if err := run(*conns, *rounds, *size, *rate, *writers); err != nil {
		fmt.Fprintln(os.Stderr, "loopback:", err)
		os.Exit(1)
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func run(conns, rounds, size, rate, writers int) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	servers := make([]net.Conn, 0, conns)
	defer func() {
		for _, s := range servers {
			_ = s.Close()
		}
	}()
	want := int64(rounds) * int64(size)
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	lat := make([][]time.Duration, conns) // with rate: each reader's latencies
	for i := range conns {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return err
		}
		s, err := ln.Accept()
		if err != nil {
			_ = c.Close()
			return err
		}
		servers = append(servers, s)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			if rate > 0 {
				lat[i] = readStamped(c, rounds, size, errs)
				return
			}
			n, err := io.CopyN(io.Discard, c, want)
			if err != nil || n != want {
				errs <- fmt.Errorf("reader got %d of %d bytes: %v", n, want, err)
			}
		}()
	}
	start, cpu0 := time.Now(), cpuTime()
	if err := write(servers, rounds, size, rate, writers, start); err != nil {
		return err
	}
	writeWall := time.Since(start)
	wg.Wait()
	wall, cpu := time.Since(start), cpuTime()-cpu0
	close(errs)
	var all []error
	for e := range errs {
		all = append(all, e)
	}
	if err := errors.Join(all...); err != nil {
		return err
	}
	n := float64(conns * rounds)
	if rate > 0 {
		fmt.Printf("%d connections × %d messages of %d B, %d rounds a second: all read after %v\n",
			conns, rounds, size, rate, wall.Round(time.Millisecond))
	} else {
		fmt.Printf("%d connections × %d messages of %d B: write loop %v (%.2f µs per write), all read after %v\n",
			conns, rounds, size, writeWall.Round(time.Millisecond), float64(writeWall.Nanoseconds())/n/1e3, wall.Round(time.Millisecond))
	}
	fmt.Printf("process CPU %v = %.2f µs per message (write + read), %.0f%% of a core\n",
		cpu.Round(time.Millisecond), float64(cpu.Nanoseconds())/n/1e3, 100*cpu.Seconds()/wall.Seconds())
	if rate > 0 {
		var all []time.Duration
		for _, l := range lat {
			all = append(all, l...)
		}
		slices.Sort(all)
		q := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) / 1e3 }
		fmt.Printf("%d rounds/s, %d writers: latency p50 %.2f ms, p90 %.2f, p99 %.2f, max %.2f (%d messages)\n",
			rate, writers, q(0.5), q(0.9), q(0.99), q(1), len(all))
	}
	return nil
}

// write writes rounds messages to every server side, each writer goroutine its share
// of them: back to back, or with rate each round at its time, stamped with it.
func write(servers []net.Conn, rounds, size, rate, writers int, start time.Time) error {
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for w := range writers {
		mine := servers[w*len(servers)/writers : (w+1)*len(servers)/writers]
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := make([]byte, size)
			for r := range rounds {
				if rate > 0 {
					at := start.Add(time.Duration(r) * time.Second / time.Duration(rate))
					time.Sleep(time.Until(at))
					binary.LittleEndian.PutUint64(msg, uint64(at.UnixNano()))
				}
				for _, s := range mine {
					if _, err := s.Write(msg); err != nil {
						errs[w] = err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// readStamped reads rounds stamped messages of size bytes from c and returns their
// latencies.
func readStamped(c net.Conn, rounds, size int, errs chan<- error) []time.Duration {
	out := make([]time.Duration, 0, rounds)
	buf := make([]byte, size)
	for range rounds {
		if _, err := io.ReadFull(c, buf); err != nil {
			errs <- fmt.Errorf("reader got %d of %d messages: %v", len(out), rounds, err)
			return out
		}
		sent := int64(binary.LittleEndian.Uint64(buf))
		out = append(out, time.Duration(time.Now().UnixNano()-sent))
	}
	return out
}
