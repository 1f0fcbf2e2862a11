package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteUsersTable prints a human-readable summary.
func WriteUsersTable(w io.Writer, r *UsersResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, a...)...) }
	row("targets", "%s", strings.Join(r.Targets, ", "))
	row("namespace", "%s", r.Namespace)
	row("devices", "%d/%d connected: %d users × %d devices, each authenticated as its user", r.Connected, r.Devices,
		r.Users, r.DevicesPerUser)
	row("connect time", "%v (%.0f conn/s)", r.ConnectTime.Round(time.Millisecond), rate(r.Connected, r.ConnectTime))
	if h := r.Handshake; h.N > 0 {
		row("handshake", "p50 %.2fms  p90 %.2fms  p99 %.2fms  max %.2fms", ms(h.P50), ms(h.P90), ms(h.P99), ms(h.Max))
	}
	row("publish path", "%s, %s", r.Publish, formatPublishers(r.Publish, r.Publishers))
	row("published", "%d/%d messages of %d B to a random user each at %.0f/s over %v (took %v; seed %d)%s",
		r.Sent, r.Planned, r.PayloadBytes, r.Rate, r.Duration, r.PublishTime.Round(time.Millisecond), r.Seed,
		sendErrors(r.SendErrors))
	row("delivered", "%d/%d (%.3f%%); %d/%d devices got every message of their user exactly once",
		r.Delivered, r.Expected, pct(r.Delivered, r.Expected), r.DevicesComplete, r.Connected)
	row("wrong user", "%d%s", r.WrongUser, wrongUserNote(r.WrongUser))
	row("lost / duplicates", "%d / %d  (reordered %d, bad %d)", r.Lost, r.Duplicates, r.Reordered, r.BadEvents)
	row("deliveries/s", "%.0f (first send → last delivery %v)", r.DeliveriesPerSec(), r.DeliveryTime.Round(time.Millisecond))
	if h := r.Latency; h.N > 0 {
		row("latency", "p50 %.2fms  p90 %.2fms  p99 %.2fms  max %.2fms  (mean %.2fms, min %.2fms)",
			ms(h.P50), ms(h.P90), ms(h.P99), ms(h.Max), ms(h.Mean), ms(h.Min))
	}
	if a := r.API; a != nil && a.Answer.N > 0 {
		h := a.Answer
		row("api answer", "p50 %.2fms  p90 %.2fms  p99 %.2fms  max %.2fms  (request sent → answer read)", ms(h.P50), ms(h.P90), ms(h.P99), ms(h.Max))
		if r.Publish == PublishAPI && a.Counted+a.Incomplete > 0 {
			row("wait counts", "%d sockets counted by the nodes vs %d delivered; %d incomplete answers", a.Counted, r.Delivered, a.Incomplete)
		}
	}
	for _, t := range r.PerTarget {
		h := t.Latency
		row("  on "+t.Target, "%d devices, delivered %d/%d; p50 %.2fms  p90 %.2fms  p99 %.2fms  max %.2fms",
			t.Joined, t.Delivered, t.Expected, ms(h.P50), ms(h.P90), ms(h.P99), ms(h.Max))
	}
	writeEndRows(row, r.Drained, r.DrainWait, r.Disconnects, r.Usage, r.Errors, r.TimedOut)
	return tw.Flush()
}

func wrongUserNote(n int64) string {
	if n == 0 {
		return " (as it must be)"
	}
	return " — MUST BE 0: another user's devices received messages"
}

// rate is n per second of d.
func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// usersJSON is the machine-readable form of UsersResult (durations in ms).
type usersJSON struct {
	Scenario         string      `json:"scenario"`
	ClientReader     string      `json:"client_reader"`
	Targets          []string    `json:"targets"`
	Namespace        string      `json:"namespace"`
	Publish          string      `json:"publish"`
	Users            int         `json:"users"`
	DevicesPerUser   int         `json:"devices_per_user"`
	Devices          int         `json:"devices"`
	Connected        int         `json:"connected"`
	ConnectTimeMS    float64     `json:"connect_time_ms"`
	Handshake        latencyJSON `json:"handshake_ms"`
	Publishers       int         `json:"publishers"`
	Rate             float64     `json:"rate_per_s"`
	DurationMS       float64     `json:"duration_ms"`
	PayloadBytes     int         `json:"payload_bytes"`
	Seed             uint64      `json:"seed"`
	Planned          int64       `json:"planned"`
	Sent             int64       `json:"sent"`
	SendErrors       int64       `json:"send_errors"`
	PublishMS        float64     `json:"publish_ms"`
	Expected         int64       `json:"expected"`
	Delivered        int64       `json:"delivered"`
	Lost             int64       `json:"lost"`
	Duplicates       int64       `json:"duplicates"`
	WrongUser        int64       `json:"wrong_user"`
	Reordered        int64       `json:"reordered"`
	BadEvents        int64       `json:"bad_events"`
	DevicesComplete  int         `json:"devices_complete"`
	DeliveryMS       float64     `json:"delivery_ms"`
	DeliveriesPerSec float64     `json:"deliveries_per_s"`
	Latency          latencyJSON `json:"latency_ms"`
	Disconnects      int64       `json:"disconnects"`
	Drained          bool        `json:"drained"`
	DrainWaitMS      float64     `json:"drain_wait_ms"`
	usageJSON
	APIAnswer     *latencyJSON   `json:"api_answer_ms,omitempty"`
	APICounted    *int64         `json:"api_counted,omitempty"`
	APIIncomplete *int64         `json:"api_incomplete,omitempty"`
	PerTarget     []targetJSON   `json:"per_target,omitempty"`
	Errors        map[string]int `json:"errors,omitempty"`
	TimedOut      bool           `json:"timed_out"`
}

// WriteUsersJSON prints the result as one JSON object.
func WriteUsersJSON(w io.Writer, r *UsersResult) error {
	var targets []targetJSON
	for _, t := range r.PerTarget {
		targets = append(targets, targetJSON{Target: t.Target, Joined: t.Joined, Expected: t.Expected,
			Delivered: t.Delivered, Latency: latency(t.Latency)})
	}
	var answer *latencyJSON
	var counted, incomplete *int64
	if a := r.API; a != nil {
		l := latency(a.Answer)
		answer, counted, incomplete = &l, &a.Counted, &a.Incomplete
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(usersJSON{
		APIAnswer: answer, APICounted: counted, APIIncomplete: incomplete,
		Scenario: "users", ClientReader: r.ClientReader, Targets: r.Targets, Namespace: r.Namespace, Publish: r.Publish,
		Users: r.Users, DevicesPerUser: r.DevicesPerUser, Devices: r.Devices, Connected: r.Connected,
		ConnectTimeMS: ms(r.ConnectTime), Handshake: latency(r.Handshake),
		Publishers: r.Publishers, Rate: r.Rate, DurationMS: ms(r.Duration), PayloadBytes: r.PayloadBytes,
		Seed: r.Seed, Planned: r.Planned, Sent: r.Sent, SendErrors: r.SendErrors, PublishMS: ms(r.PublishTime),
		Expected: r.Expected, Delivered: r.Delivered, Lost: r.Lost, Duplicates: r.Duplicates,
		WrongUser: r.WrongUser, Reordered: r.Reordered, BadEvents: r.BadEvents, DevicesComplete: r.DevicesComplete,
		DeliveryMS: ms(r.DeliveryTime), DeliveriesPerSec: r.DeliveriesPerSec(), Latency: latency(r.Latency),
		Disconnects: r.Disconnects, Drained: r.Drained, DrainWaitMS: ms(r.DrainWait),
		usageJSON: usageToJSON(r.Usage), PerTarget: targets, Errors: r.Errors, TimedOut: r.TimedOut,
	})
}
