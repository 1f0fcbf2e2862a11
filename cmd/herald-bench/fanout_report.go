package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// fanoutProgressPrinter draws a one-line, self-overwriting status on a terminal.
func fanoutProgressPrinter(w io.Writer) func(FanoutProgress) {
	return func(p FanoutProgress) {
		switch p.Phase {
		case "connect":
			fmt.Fprintf(w, "\r\033[Kconnect  joined %d/%d  %s", p.Joined, p.Target, p.Elapsed.Round(100*time.Millisecond))
		default:
			fmt.Fprintf(w, "\r\033[K%-7s  sent %d/%d  delivered %d/%d  %.0f/s  p99 %.2fms  client CPU %.0f%%",
				p.Phase, p.Sent, p.Planned, p.Delivered, p.Expected, p.RatePerSec, ms(p.P99), p.ClientCPUPercent)
			if p.Disconnects > 0 {
				fmt.Fprintf(w, "  dropped %d", p.Disconnects)
			}
		}
		if p.Phase == "done" {
			fmt.Fprintln(w)
		}
	}
}

func pct(part, whole int64) float64 {
	if whole == 0 {
		return 0
	}
	return 100 * float64(part) / float64(whole)
}

// WriteFanoutTable prints a human-readable summary.
func WriteFanoutTable(w io.Writer, r *FanoutResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, a...)...) }
	room := r.Room
	if room == "" {
		room = "(whole namespace)"
	}
	row("targets", "%s", strings.Join(r.Targets, ", "))
	row("namespace / room", "%s / %s", r.Namespace, room)
	row("subscribers", "%d/%d joined, %d publisher(s)", r.Joined, r.Subscribers, r.Publishers)
	row("published", "%d/%d messages of %d B at %.0f/s over %v (took %v)", r.Sent, r.Planned, r.PayloadBytes,
		r.Rate, r.Duration, r.PublishTime.Round(time.Millisecond))
	row("delivered", "%d/%d (%.3f%%)", r.Delivered, r.Expected, pct(r.Delivered, r.Expected))
	row("lost / duplicates", "%d / %d  (reordered %d, bad %d)", r.Lost, r.Duplicates, r.Reordered, r.BadEvents)
	row("deliveries/s", "%.0f (first send → last delivery %v)", r.DeliveriesPerSec(), r.DeliveryTime.Round(time.Millisecond))
	if h := r.Latency; h.N > 0 {
		row("latency", "p50 %.2fms  p90 %.2fms  p99 %.2fms  max %.2fms  (mean %.2fms, min %.2fms)",
			ms(h.P50), ms(h.P90), ms(h.P99), ms(h.Max), ms(h.Mean), ms(h.Min))
	}
	for _, t := range r.PerTarget {
		h := t.Latency
		row("  on "+t.Target, "%d joined, delivered %d/%d; p50 %.2fms  p90 %.2fms  p99 %.2fms  max %.2fms",
			t.Joined, t.Delivered, t.Expected, ms(h.P50), ms(h.P90), ms(h.P99), ms(h.Max))
	}
	drain := "complete"
	if !r.Drained {
		drain = "incomplete"
	}
	row("drain", "%s after %v", drain, r.DrainWait.Round(time.Millisecond))
	row("dropped by server", "%d", r.Disconnects)
	for _, p := range r.ServerCPU {
		row(fmt.Sprintf("server pid %d CPU", p.PID), "%.2fs (user %.2f + sys %.2f) = %.0f%% of a core, %.3f µs/delivery",
			p.TotalSec, p.UserSec, p.SysSec, p.Percent, p.USPerDelivery)
	}
	if len(r.ServerCPU) > 1 {
		t := r.ServerCPUTotal
		row("server CPU total", "%.2fs = %.0f%% of a core, %.3f µs/delivery", t.TotalSec, t.Percent, t.USPerDelivery)
	}
	c := r.ClientCPU
	row("client CPU", "%.2fs (user %.2f + sys %.2f) = %.0f%% of a core, %.3f µs/delivery",
		c.TotalSec, c.UserSec, c.SysSec, c.Percent, c.USPerDelivery)
	if r.Cores > 0 {
		row("machine CPU", "%.2fs = %.0f%% of %d cores; other processes and kernel threads %.2fs = %.0f%% of a core",
			r.MachineBusy.TotalSec, r.MachineBusy.Percent/float64(r.Cores), r.Cores, r.OtherCPU.TotalSec, r.OtherCPU.Percent)
	}
	if u := r.Redis; u != nil {
		var calls []string
		for _, c := range u.sortedCalls() {
			calls = append(calls, fmt.Sprintf("%s %d", c, u.Calls[c]))
		}
		row("redis "+u.Addr, "%d commands = %.2f per message published (%s)", u.TotalCalls, u.CallsPerMessage, strings.Join(calls, ", "))
		row("redis CPU", "%.2fs (user %.2f + sys %.2f) = %.0f%% of a core, %.1f µs/message, %.3f µs/delivery",
			u.CPU.TotalSec, u.CPU.UserSec, u.CPU.SysSec, u.CPU.Percent, u.CPUPerMessageUS, u.CPU.USPerDelivery)
		row("redis network", "in %d B, out %d B", u.NetIn, u.NetOut)
	}
	row("window", "%v (first send − drain end)", r.Window.Round(time.Millisecond))
	for _, e := range sortedErrors(r.Errors) {
		row("error", "%dx %s", r.Errors[e], e)
	}
	if r.TimedOut {
		row("TIMED OUT", "results are partial")
	}
	return tw.Flush()
}

// fanoutJSON is the machine-readable form of FanoutResult (durations in ms).
type fanoutJSON struct {
	Scenario         string         `json:"scenario"`
	Targets          []string       `json:"targets"`
	Namespace        string         `json:"namespace"`
	Room             string         `json:"room"`
	Subscribers      int            `json:"subscribers"`
	Joined           int            `json:"joined"`
	Publishers       int            `json:"publishers"`
	Rate             float64        `json:"rate_per_s"`
	DurationMS       float64        `json:"duration_ms"`
	PayloadBytes     int            `json:"payload_bytes"`
	Planned          int64          `json:"planned"`
	Sent             int64          `json:"sent"`
	PublishMS        float64        `json:"publish_ms"`
	Expected         int64          `json:"expected"`
	Delivered        int64          `json:"delivered"`
	Lost             int64          `json:"lost"`
	Duplicates       int64          `json:"duplicates"`
	Reordered        int64          `json:"reordered"`
	BadEvents        int64          `json:"bad_events"`
	DeliveryMS       float64        `json:"delivery_ms"`
	DeliveriesPerSec float64        `json:"deliveries_per_s"`
	Latency          latencyJSON    `json:"latency_ms"`
	Disconnects      int64          `json:"disconnects"`
	Drained          bool           `json:"drained"`
	DrainWaitMS      float64        `json:"drain_wait_ms"`
	WindowMS         float64        `json:"window_ms"`
	ServerCPU        []PIDCPU       `json:"server_cpu"`
	ServerCPUTotal   PIDCPU         `json:"server_cpu_total"`
	ClientCPU        PIDCPU         `json:"client_cpu"`
	MachineBusy      PIDCPU         `json:"machine_cpu"`
	OtherCPU         PIDCPU         `json:"other_cpu"`
	Cores            int            `json:"cores"`
	Redis            *redisJSON     `json:"redis,omitempty"`
	PerTarget        []targetJSON   `json:"per_target,omitempty"`
	Errors           map[string]int `json:"errors,omitempty"`
	TimedOut         bool           `json:"timed_out"`
}

// redisJSON is RedisUsage: commands, CPU and bytes of the cluster's Redis in the
// window, and per message published.
type redisJSON struct {
	Addr            string           `json:"addr"`
	Calls           map[string]int64 `json:"calls"`
	TotalCalls      int64            `json:"total_calls"`
	CallsPerMessage float64          `json:"calls_per_message"`
	CPU             PIDCPU           `json:"cpu"`
	CPUPerMessageUS float64          `json:"cpu_us_per_message"`
	NetInBytes      int64            `json:"net_in_bytes"`
	NetOutBytes     int64            `json:"net_out_bytes"`
}

// targetJSON is TargetResult.
type targetJSON struct {
	Target    string      `json:"target"`
	Joined    int         `json:"joined"`
	Expected  int64       `json:"expected"`
	Delivered int64       `json:"delivered"`
	Latency   latencyJSON `json:"latency_ms"`
}

func latency(h LatencySummary) latencyJSON {
	return latencyJSON{N: h.N, Min: ms(h.Min), Mean: ms(h.Mean), P50: ms(h.P50), P90: ms(h.P90), P99: ms(h.P99), Max: ms(h.Max)}
}

// WriteFanoutJSON prints the result as one JSON object.
func WriteFanoutJSON(w io.Writer, r *FanoutResult) error {
	h := r.Latency
	cpu := r.ServerCPU
	if cpu == nil {
		cpu = []PIDCPU{}
	}
	var redis *redisJSON
	if u := r.Redis; u != nil {
		redis = &redisJSON{Addr: u.Addr, Calls: u.Calls, TotalCalls: u.TotalCalls, CallsPerMessage: u.CallsPerMessage,
			CPU: u.CPU, CPUPerMessageUS: u.CPUPerMessageUS, NetInBytes: u.NetIn, NetOutBytes: u.NetOut}
	}
	var targets []targetJSON
	for _, t := range r.PerTarget {
		targets = append(targets, targetJSON{Target: t.Target, Joined: t.Joined, Expected: t.Expected,
			Delivered: t.Delivered, Latency: latency(t.Latency)})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(fanoutJSON{
		Scenario: "fanout", Targets: r.Targets, Namespace: r.Namespace, Room: r.Room,
		Subscribers: r.Subscribers, Joined: r.Joined, Publishers: r.Publishers,
		Rate: r.Rate, DurationMS: ms(r.Duration), PayloadBytes: r.PayloadBytes,
		Planned: r.Planned, Sent: r.Sent, PublishMS: ms(r.PublishTime),
		Expected: r.Expected, Delivered: r.Delivered, Lost: r.Lost, Duplicates: r.Duplicates,
		Reordered: r.Reordered, BadEvents: r.BadEvents,
		DeliveryMS: ms(r.DeliveryTime), DeliveriesPerSec: r.DeliveriesPerSec(),
		Latency:     latency(h),
		Disconnects: r.Disconnects, Drained: r.Drained, DrainWaitMS: ms(r.DrainWait), WindowMS: ms(r.Window),
		ServerCPU: cpu, ServerCPUTotal: r.ServerCPUTotal, ClientCPU: r.ClientCPU,
		MachineBusy: r.MachineBusy, OtherCPU: r.OtherCPU, Cores: r.Cores, Redis: redis, PerTarget: targets,
		Errors: r.Errors, TimedOut: r.TimedOut,
	})
}
