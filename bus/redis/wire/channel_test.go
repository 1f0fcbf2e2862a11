package wire

import "testing"

func TestChannels(t *testing.T) {
	c := NewChannels("", "/")
	want := Channels{Key: "socket.io", Nsp: "/", Broadcast: "socket.io#/#",
		Request: "socket.io-request#/#", Response: "socket.io-response#/#"}
	if c != want {
		t.Fatalf("NewChannels = %+v, want %+v", c, want)
	}
	// Captured names (protocol.md §5.1).
	checks := []struct{ got, want string }{
		{c.Room("room1"), "socket.io#/#room1#"},
		{c.SpecificResponse("WZ3S_l"), "socket.io-response#/#WZ3S_l#"},
		{c.Pattern(), "socket.io#/#*"},
		{NewChannels("app", "/admin").Room("r"), "app#/admin#r#"},
		{NewChannels("a*", "/x?[y]\\").Pattern(), `a\*#/x\?\[y\]\\#*`},
		{c.ForBroadcast(nil), "socket.io#/#"},
		{c.ForBroadcast([]string{"room1"}), "socket.io#/#room1#"},
		{c.ForBroadcast([]string{"room1", "room1"}), "socket.io#/#room1#"}, // a Set of one
		{c.ForBroadcast([]string{"room1", "room2"}), "socket.io#/#"},
		{c.ForBroadcast([]string{""}), "socket.io#/##"},
	}
	for i, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%d: got %q, want %q", i, ch.got, ch.want)
		}
	}
}

func TestParseBroadcast(t *testing.T) {
	c := NewChannels("", "/")
	tests := []struct {
		channel string
		room    string
		ok      bool
	}{
		{"socket.io#/#", "", true},
		{"socket.io#/#room1#", "room1", true},
		{"socket.io#/#a#b#", "a#b", true},
		{"socket.io#/##", "", true},
		{"socket.io#/#room1", "", false},
		{"socket.io#/admin#", "", false},
		{"socket.io-request#/#", "", false},
		{"other#/#", "", false},
	}
	for _, tc := range tests {
		room, ok := c.ParseBroadcast(tc.channel)
		if room != tc.room || ok != tc.ok {
			t.Errorf("ParseBroadcast(%q) = %q, %v; want %q, %v", tc.channel, room, ok, tc.room, tc.ok)
		}
	}
}

func TestParseChannel(t *testing.T) {
	tests := []struct {
		key, channel string
		nsp, room    string
		ok           bool
	}{
		{"", "socket.io#/#", "/", "", true},
		{"", "socket.io#/#room1#", "/", "room1", true},
		{"", "socket.io#/admin#user:42#", "/admin", "user:42", true},
		{"", "socket.io#/admin#a#b#", "/admin", "a#b", true},
		{"app", "app#/#r#", "/", "r", true},
		{"", "socket.io#/#r", "", "", false},
		{"", "socket.io##", "", "", false},
		{"", "socket.io#/", "", "", false},
		{"", "socket.io-request#/#", "", "", false},
		{"", "socket.io-response#/#uid#", "", "", false},
		{"app", "socket.io#/#", "", "", false},
	}
	for _, tc := range tests {
		nsp, room, ok := ParseChannel(tc.key, tc.channel)
		if nsp != tc.nsp || room != tc.room || ok != tc.ok {
			t.Errorf("ParseChannel(%q, %q) = %q, %q, %v; want %q, %q, %v",
				tc.key, tc.channel, nsp, room, ok, tc.nsp, tc.room, tc.ok)
		}
	}
}
