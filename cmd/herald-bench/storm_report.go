package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// stormProgressPrinter draws a one-line, self-overwriting status on a terminal.
func stormProgressPrinter(w io.Writer) func(StormProgress) {
	return func(p StormProgress) {
		switch p.Phase {
		case "drop":
			fmt.Fprintf(w, "\r\033[Kdrop   all closed in %s", p.Elapsed.Round(time.Millisecond))
		default:
			fmt.Fprintf(w, "\r\033[K%-6s connected %d/%d  failures %d  %s", p.Phase, p.Connected, p.Target, p.Failed,
				p.Elapsed.Round(100*time.Millisecond))
		}
		if p.Phase == "done" {
			fmt.Fprintln(w)
		}
	}
}

// WriteStormTable prints a human-readable summary.
func WriteStormTable(w io.Writer, r *StormResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, a...)...) }
	hs := func(h LatencySummary) string {
		return fmt.Sprintf("p50 %.2fms  p90 %.2fms  p99 %.2fms  max %.2fms", ms(h.P50), ms(h.P90), ms(h.P99), ms(h.Max))
	}
	row("targets", "%s", strings.Join(r.Targets, ", "))
	ns := r.Namespace
	if r.Authenticated {
		ns += " (each connection authenticated with its own JWT)"
	}
	row("namespace", "%s", ns)
	row("connect time", "%d/%d connections with %d in parallel in %v (%.0f conn/s)", r.Connected, r.Conns, r.Parallel,
		r.ConnectTime.Round(time.Millisecond), r.ConnectRate())
	if r.Handshake.N > 0 {
		row("  handshake", "%s", hs(r.Handshake))
	}
	row("drop", "%d connections closed at once in %v", r.Dropped, r.DropTime.Round(time.Millisecond))
	all := "all back"
	if r.Back < r.Conns {
		all = fmt.Sprintf("NOT ALL BACK: %d missing", r.Conns-r.Back)
	}
	row("storm", "%d/%d back in %v (%.0f conn/s, %d in parallel); %s", r.Back, r.Conns,
		r.StormTime.Round(time.Millisecond), r.StormRate(), r.Parallel, all)
	if r.StormHandshake.N > 0 {
		row("  handshake", "%s", hs(r.StormHandshake))
		row("  back after", "%s (storm start → connected)", hs(r.BackAfter))
	}
	row("  failures", "%d not back, %d failed attempts retried", r.StormFailed, r.Retried)
	row("alive at end", "%d, %d dropped by server", r.AliveAtEnd, r.Disconnects)
	for _, p := range r.ServerCPU {
		row(fmt.Sprintf("server pid %d CPU", p.PID), "%.2fs = %.0f%% of a core over the storm (%v), %.1f µs/connection",
			p.TotalSec, p.Percent, r.StormWindow.Round(time.Millisecond), p.USPerConn)
	}
	row("client CPU", "%.2fs over the storm", r.ClientCPUSec)
	for _, e := range sortedErrors(r.RampErrors) {
		row("ramp error", "%dx %s", r.RampErrors[e], e)
	}
	for _, e := range sortedErrors(r.StormErrors) {
		row("storm error", "%dx %s", r.StormErrors[e], e)
	}
	if r.TimedOut {
		row("TIMED OUT", "results are partial")
	}
	return tw.Flush()
}

// stormJSON is the machine-readable form of StormResult (durations in ms).
type stormJSON struct {
	Scenario       string         `json:"scenario"`
	ClientReader   string         `json:"client_reader"`
	Targets        []string       `json:"targets"`
	Namespace      string         `json:"namespace"`
	Conns          int            `json:"conns"`
	Parallel       int            `json:"parallel"`
	Authenticated  bool           `json:"authenticated"`
	Connected      int            `json:"connected"`
	RampFailed     int            `json:"ramp_failed"`
	ConnectTimeMS  float64        `json:"connect_time_ms"`
	ConnectRate    float64        `json:"connect_rate_per_s"`
	Handshake      latencyJSON    `json:"handshake_ms"`
	Dropped        int            `json:"dropped"`
	DropTimeMS     float64        `json:"drop_time_ms"`
	Back           int            `json:"back"`
	StormFailed    int            `json:"storm_failed"`
	Retried        int            `json:"retried"`
	StormTimeMS    float64        `json:"storm_time_ms"`
	StormRate      float64        `json:"storm_rate_per_s"`
	StormHandshake latencyJSON    `json:"storm_handshake_ms"`
	BackAfter      latencyJSON    `json:"back_after_ms"`
	AliveAtEnd     int            `json:"alive_at_end"`
	Disconnects    int64          `json:"disconnects"`
	StormWindowMS  float64        `json:"storm_window_ms"`
	ServerCPU      []StormCPU     `json:"server_cpu"`
	ClientCPUSec   float64        `json:"client_cpu_s"`
	RampErrors     map[string]int `json:"ramp_errors,omitempty"`
	StormErrors    map[string]int `json:"storm_errors,omitempty"`
	TimedOut       bool           `json:"timed_out"`
}

// WriteStormJSON prints the result as one JSON object.
func WriteStormJSON(w io.Writer, r *StormResult) error {
	cpu := r.ServerCPU
	if cpu == nil {
		cpu = []StormCPU{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(stormJSON{
		Scenario: "connect-storm", ClientReader: r.ClientReader, Targets: r.Targets, Namespace: r.Namespace, Conns: r.Conns, Parallel: r.Parallel,
		Authenticated: r.Authenticated, Connected: r.Connected, RampFailed: r.RampFailed,
		ConnectTimeMS: ms(r.ConnectTime), ConnectRate: r.ConnectRate(), Handshake: latency(r.Handshake),
		Dropped: r.Dropped, DropTimeMS: ms(r.DropTime), Back: r.Back, StormFailed: r.StormFailed, Retried: r.Retried,
		StormTimeMS: ms(r.StormTime), StormRate: r.StormRate(), StormHandshake: latency(r.StormHandshake),
		BackAfter: latency(r.BackAfter), AliveAtEnd: r.AliveAtEnd, Disconnects: r.Disconnects,
		StormWindowMS: ms(r.StormWindow), ServerCPU: cpu, ClientCPUSec: r.ClientCPUSec,
		RampErrors: r.RampErrors, StormErrors: r.StormErrors, TimedOut: r.TimedOut,
	})
}
