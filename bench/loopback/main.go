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
//	go run ./bench/loopback -c 1000 -r 100 -p 100
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

func main() {
	conns := flag.Int("c", 1000, "connection pairs")
	rounds := flag.Int("r", 100, "messages per connection")
	size := flag.Int("p", 100, "message size, bytes")
	flag.Parse()
	if *conns < 1 || *rounds < 1 || *size < 1 || *conns > 10000 || *rounds*(*size) > 1<<30 {
		fmt.Fprintln(os.Stderr, "loopback: want 1 ≤ -c ≤ 10000, -r ≥ 1, -p ≥ 1, r×p ≤ 1 GiB")
		os.Exit(2)
	}
	if err := run(*conns, *rounds, *size); err != nil {
		fmt.Fprintln(os.Stderr, "loopback:", err)
		os.Exit(1)
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func run(conns, rounds, size int) error {
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
	for range conns {
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
			n, err := io.CopyN(io.Discard, c, want)
			if err != nil || n != want {
				errs <- fmt.Errorf("reader got %d of %d bytes: %v", n, want, err)
			}
		}()
	}
	msg := make([]byte, size)
	start, cpu0 := time.Now(), cpuTime()
	for range rounds {
		for _, s := range servers {
			if _, err := s.Write(msg); err != nil {
				return err
			}
		}
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
	fmt.Printf("%d connections × %d messages of %d B: write loop %v (%.2f µs per write), all read after %v\n",
		conns, rounds, size, writeWall.Round(time.Millisecond), float64(writeWall.Nanoseconds())/n/1e3, wall.Round(time.Millisecond))
	fmt.Printf("process CPU %v = %.2f µs per message (write + read), %.0f%% of a core\n",
		cpu.Round(time.Millisecond), float64(cpu.Nanoseconds())/n/1e3, 100*cpu.Seconds()/wall.Seconds())
	return nil
}
