package security

import "testing"

func TestParse(t *testing.T) {
	for in, want := range map[string]Mode{"ssl": SSL, "TLS": SSL, " starttls ": StartTLS, "none": None} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, want)
		}
		if back, _ := Parse(got.String()); back != got {
			t.Errorf("%v does not read back", got)
		}
	}
	if _, err := Parse("tsl"); err == nil {
		t.Error(`Parse("tsl") accepted a typo`)
	}
}

func TestDefaultPort(t *testing.T) {
	for m, want := range map[Mode]int{SSL: 465, StartTLS: 587, None: 25} {
		if got := m.DefaultPort(); got != want {
			t.Errorf("%v.DefaultPort() = %d, want %d", m, got, want)
		}
	}
}

func TestLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST.": true, "127.0.0.1": true, "127.8.9.10": true, "::1": true, "[::1]": true,
		"localhost.example.com": false, "10.0.0.1": false, "smtp.qq.com": false, "": false, "0.0.0.0": false,
	} {
		if got := Loopback(host); got != want {
			t.Errorf("Loopback(%q) = %v, want %v", host, got, want)
		}
	}
}
