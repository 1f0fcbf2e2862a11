package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// isTerminal reports whether f is a character device (a TTY).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progressPrinter draws a one-line, self-overwriting status on a terminal.
func progressPrinter(w io.Writer) func(IdleProgress) {
	return func(p IdleProgress) {
		rate := 0.0
		if s := p.Elapsed.Seconds(); s > 0 {
			rate = float64(p.Connected) / s
		}
		fmt.Fprintf(w, "\r\033[Kconnected %d/%d  %.0f conn/s  failures %d  %s",
			p.Connected, p.Target, rate, p.Failed, p.Elapsed.Round(100*time.Millisecond))
		if p.Done {
			fmt.Fprintln(w)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// WriteIdleTable prints a human-readable summary.
func WriteIdleTable(w io.Writer, r *IdleResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, a...)...) }
	row("targets", "%s", strings.Join(r.Targets, ", "))
	row("namespace", "%s", r.Namespace)
	row("connected", "%d/%d", r.Connected, r.Target)
	row("failures", "%d", r.Failures)
	row("connect time", "%v (%.0f conn/s)", r.ConnectTime.Round(time.Millisecond), r.ConnectRate())
	h := r.Handshake
	if h.N > 0 {
		row("handshake", "p50 %.2fms  p90 %.2fms  p99 %.2fms  max %.2fms", ms(h.P50), ms(h.P90), ms(h.P99), ms(h.Max))
	}
	row("held", "%v, %d alive at end, %d dropped by server", r.Hold.Round(time.Millisecond), r.AliveAtEnd, r.Disconnects)
	row("events/pings", "%d / %d", r.Events, r.Pings)
	for _, p := range r.RSS {
		row(fmt.Sprintf("server pid %d RSS", p.PID), "%s → %s (end %s)  %.2f KB/conn",
			kb(p.BeforeKB), kb(p.AfterKB), kb(p.EndKB), p.PerConnKB)
	}
	if len(r.RSS) > 1 {
		t := r.RSSTotal
		row("server RSS total", "%s → %s (end %s)  %.2f KB/conn", kb(t.BeforeKB), kb(t.AfterKB), kb(t.EndKB), t.PerConnKB)
	}
	if r.ClientRSSKB > 0 {
		row("client RSS", "%s", kb(r.ClientRSSKB))
	}
	for _, e := range sortedErrors(r.Errors) {
		row("error", "%dx %s", r.Errors[e], e)
	}
	if r.TimedOut {
		row("TIMED OUT", "results are partial")
	}
	return tw.Flush()
}

func kb(v int64) string {
	if v >= 10*1024 {
		return fmt.Sprintf("%.1f MiB", float64(v)/1024)
	}
	return fmt.Sprintf("%d KiB", v)
}

// idleJSON is the machine-readable form of IdleResult (durations in ms).
type idleJSON struct {
	Scenario      string         `json:"scenario"`
	ClientReader  string         `json:"client_reader"`
	Targets       []string       `json:"targets"`
	Namespace     string         `json:"namespace"`
	Target        int            `json:"target"`
	Connected     int            `json:"connected"`
	Failures      int            `json:"failures"`
	Errors        map[string]int `json:"errors,omitempty"`
	ConnectTimeMS float64        `json:"connect_time_ms"`
	ConnectRate   float64        `json:"connect_rate_per_s"`
	Handshake     latencyJSON    `json:"handshake_ms"`
	HoldMS        float64        `json:"hold_ms"`
	AliveAtEnd    int            `json:"alive_at_end"`
	Disconnects   int64          `json:"disconnects"`
	Events        int64          `json:"events"`
	Pings         int64          `json:"pings"`
	RSS           []PIDRSS       `json:"server_rss"`
	RSSTotal      PIDRSS         `json:"server_rss_total"`
	ClientRSSKB   int64          `json:"client_rss_kb"`
	TimedOut      bool           `json:"timed_out"`
}

type latencyJSON struct {
	N    int     `json:"n"`
	Min  float64 `json:"min"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
}

// WriteIdleJSON prints the result as one JSON object.
func WriteIdleJSON(w io.Writer, r *IdleResult) error {
	h := r.Handshake
	rss := r.RSS
	if rss == nil {
		rss = []PIDRSS{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(idleJSON{
		Scenario: "idle", ClientReader: r.ClientReader, Targets: r.Targets, Namespace: r.Namespace,
		Target: r.Target, Connected: r.Connected, Failures: r.Failures, Errors: r.Errors,
		ConnectTimeMS: ms(r.ConnectTime), ConnectRate: r.ConnectRate(),
		Handshake: latencyJSON{N: h.N, Min: ms(h.Min), Mean: ms(h.Mean), P50: ms(h.P50), P90: ms(h.P90), P99: ms(h.P99), Max: ms(h.Max)},
		HoldMS:    ms(r.Hold), AliveAtEnd: r.AliveAtEnd, Disconnects: r.Disconnects,
		Events: r.Events, Pings: r.Pings, RSS: rss, RSSTotal: r.RSSTotal,
		ClientRSSKB: r.ClientRSSKB, TimedOut: r.TimedOut,
	})
}
