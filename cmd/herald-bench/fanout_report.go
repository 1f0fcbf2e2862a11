package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// fanoutProgressPrinter draws a one-line, self-overwriting status on a terminal
// (fanout and users).
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
			if p.WrongUser > 0 {
				fmt.Fprintf(w, "  WRONG USER %d", p.WrongUser)
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
	transport := "Socket.IO"
	if r.Plain {
		transport = "plain WebSocket"
	}
	row("subscribers", "%d/%d joined (%s)", r.Joined, r.Subscribers, transport)
	row("publish path", "%s, %s", r.Publish, formatPublishers(r.Publish, r.Publishers))
	row("published", "%d/%d messages of %d B at %.0f/s over %v (took %v)%s", r.Sent, r.Planned, r.PayloadBytes,
		r.Rate, r.Duration, r.PublishTime.Round(time.Millisecond), sendErrors(r.SendErrors))
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
	writeEndRows(row, r.Drained, r.DrainWait, r.Disconnects, r.Usage, r.Errors, r.TimedOut)
	return tw.Flush()
}

func sendErrors(n int64) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(", %d send(s) failed", n)
}

// writeUsageRows prints the CPU and Redis rows of a measurement window.
func writeUsageRows(row func(k, format string, a ...any), u Usage) {
	for _, p := range u.ServerCPU {
		row(fmt.Sprintf("server pid %d CPU", p.PID), "%.2fs (user %.2f + sys %.2f) = %.0f%% of a core, %.3f µs/delivery",
			p.TotalSec, p.UserSec, p.SysSec, p.Percent, p.USPerDelivery)
	}
	if len(u.ServerCPU) > 1 {
		t := u.ServerCPUTotal
		row("server CPU total", "%.2fs = %.0f%% of a core, %.3f µs/delivery", t.TotalSec, t.Percent, t.USPerDelivery)
	}
	c := u.ClientCPU
	row("client CPU", "%.2fs (user %.2f + sys %.2f) = %.0f%% of a core, %.3f µs/delivery",
		c.TotalSec, c.UserSec, c.SysSec, c.Percent, c.USPerDelivery)
	if u.Cores > 0 {
		row("machine CPU", "%.2fs = %.0f%% of %d cores; other processes and kernel threads %.2fs = %.0f%% of a core",
			u.MachineBusy.TotalSec, u.MachineBusy.Percent/float64(u.Cores), u.Cores, u.OtherCPU.TotalSec, u.OtherCPU.Percent)
	}
	if rd := u.Redis; rd != nil {
		var calls []string
		for _, c := range rd.sortedCalls() {
			calls = append(calls, fmt.Sprintf("%s %d", c, rd.Calls[c]))
		}
		row("redis "+rd.Addr, "%d commands = %.2f per message published (%s)", rd.TotalCalls, rd.CallsPerMessage, strings.Join(calls, ", "))
		row("redis CPU", "%.2fs (user %.2f + sys %.2f) = %.0f%% of a core, %.1f µs/message, %.3f µs/delivery",
			rd.CPU.TotalSec, rd.CPU.UserSec, rd.CPU.SysSec, rd.CPU.Percent, rd.CPUPerMessageUS, rd.CPU.USPerDelivery)
		row("redis network", "in %d B, out %d B", rd.NetIn, rd.NetOut)
	}
}

// fanoutJSON is the machine-readable form of FanoutResult (durations in ms).
type fanoutJSON struct {
	Scenario         string      `json:"scenario"`
	ClientReader     string      `json:"client_reader"`
	Targets          []string    `json:"targets"`
	Namespace        string      `json:"namespace"`
	Room             string      `json:"room"`
	Publish          string      `json:"publish"`
	Plain            bool        `json:"plain,omitempty"` // subscribers on the plain WebSocket endpoint
	Subscribers      int         `json:"subscribers"`
	Joined           int         `json:"joined"`
	Publishers       int         `json:"publishers"`
	Rate             float64     `json:"rate_per_s"`
	DurationMS       float64     `json:"duration_ms"`
	PayloadBytes     int         `json:"payload_bytes"`
	Planned          int64       `json:"planned"`
	Sent             int64       `json:"sent"`
	SendErrors       int64       `json:"send_errors"`
	PublishMS        float64     `json:"publish_ms"`
	Expected         int64       `json:"expected"`
	Delivered        int64       `json:"delivered"`
	Lost             int64       `json:"lost"`
	Duplicates       int64       `json:"duplicates"`
	Reordered        int64       `json:"reordered"`
	BadEvents        int64       `json:"bad_events"`
	DeliveryMS       float64     `json:"delivery_ms"`
	DeliveriesPerSec float64     `json:"deliveries_per_s"`
	Latency          latencyJSON `json:"latency_ms"`
	Disconnects      int64       `json:"disconnects"`
	Drained          bool        `json:"drained"`
	DrainWaitMS      float64     `json:"drain_wait_ms"`
	usageJSON
	PerTarget []targetJSON   `json:"per_target,omitempty"`
	Errors    map[string]int `json:"errors,omitempty"`
	TimedOut  bool           `json:"timed_out"`
}

// usageJSON is Usage (durations in ms).
type usageJSON struct {
	WindowMS       float64    `json:"window_ms"`
	ServerCPU      []PIDCPU   `json:"server_cpu"`
	ServerCPUTotal PIDCPU     `json:"server_cpu_total"`
	ClientCPU      PIDCPU     `json:"client_cpu"`
	MachineBusy    PIDCPU     `json:"machine_cpu"`
	OtherCPU       PIDCPU     `json:"other_cpu"`
	Cores          int        `json:"cores"`
	Redis          *redisJSON `json:"redis,omitempty"`
}

func usageToJSON(u Usage) usageJSON {
	cpu := u.ServerCPU
	if cpu == nil {
		cpu = []PIDCPU{}
	}
	var redis *redisJSON
	if rd := u.Redis; rd != nil {
		redis = &redisJSON{Addr: rd.Addr, Calls: rd.Calls, TotalCalls: rd.TotalCalls, CallsPerMessage: rd.CallsPerMessage,
			CPU: rd.CPU, CPUPerMessageUS: rd.CPUPerMessageUS, NetInBytes: rd.NetIn, NetOutBytes: rd.NetOut}
	}
	return usageJSON{WindowMS: ms(u.Window), ServerCPU: cpu, ServerCPUTotal: u.ServerCPUTotal, ClientCPU: u.ClientCPU,
		MachineBusy: u.MachineBusy, OtherCPU: u.OtherCPU, Cores: u.Cores, Redis: redis}
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
	var targets []targetJSON
	for _, t := range r.PerTarget {
		targets = append(targets, targetJSON{Target: t.Target, Joined: t.Joined, Expected: t.Expected,
			Delivered: t.Delivered, Latency: latency(t.Latency)})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(fanoutJSON{
		Scenario: "fanout", ClientReader: r.ClientReader, Targets: r.Targets, Namespace: r.Namespace, Room: r.Room, Publish: r.Publish,
		Plain: r.Plain, Subscribers: r.Subscribers, Joined: r.Joined, Publishers: r.Publishers,
		Rate: r.Rate, DurationMS: ms(r.Duration), PayloadBytes: r.PayloadBytes,
		Planned: r.Planned, Sent: r.Sent, SendErrors: r.SendErrors, PublishMS: ms(r.PublishTime),
		Expected: r.Expected, Delivered: r.Delivered, Lost: r.Lost, Duplicates: r.Duplicates,
		Reordered: r.Reordered, BadEvents: r.BadEvents,
		DeliveryMS: ms(r.DeliveryTime), DeliveriesPerSec: r.DeliveriesPerSec(),
		Latency:     latency(h),
		Disconnects: r.Disconnects, Drained: r.Drained, DrainWaitMS: ms(r.DrainWait),
		usageJSON: usageToJSON(r.Usage), PerTarget: targets,
		Errors: r.Errors, TimedOut: r.TimedOut,
	})
}

// writeEndRows writes the rows that end the fanout and users tables: drain,
// disconnects, resource usage, the measuring window, errors and a timeout.
func writeEndRows(row func(k, format string, a ...any), drained bool, drainWait time.Duration, disconnects int64,
	u Usage, errs map[string]int, timedOut bool) {
	drain := "complete"
	if !drained {
		drain = "incomplete"
	}
	row("drain", "%s after %v", drain, drainWait.Round(time.Millisecond))
	row("dropped by server", "%d", disconnects)
	writeUsageRows(row, u)
	row("window", "%v (first send − drain end)", u.Window.Round(time.Millisecond))
	for _, e := range sortedErrors(errs) {
		row("error", "%dx %s", errs[e], e)
	}
	if timedOut {
		row("TIMED OUT", "results are partial")
	}
}
