package campaign_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/sandbox"
	"github.com/mailmerge/mailmerge/internal/security"
)

// relay is one sandbox server of a test's pool, with its name and weight.
type relay struct {
	name   string
	weight int
	srv    *sandbox.Server
	extra  string // more keys of its [[relays]] table
}

// startRelay starts a plain loopback relay that takes mail without a login.
func startRelay(t *testing.T, name string, weight int, faults *sandbox.Faults) relay {
	t.Helper()
	return relay{name: name, weight: weight, srv: startSandbox(t, sandbox.Options{Security: security.None, AllowAnonymous: true, Faults: faults})}
}

// relaysKeys is the [[relays]] tables of a pool, to follow [send].
func relaysKeys(relays ...relay) string {
	var b strings.Builder
	for _, r := range relays {
		fmt.Fprintf(&b, "\n[[relays]]\nname = %q\nhost = \"127.0.0.1\"\nport = %d\nweight = %d\nworkers = 2\n%s", r.name, r.srv.Port(), r.weight, r.extra)
	}
	return b.String()
}

// relayCopies counts the copies every relay of the pool got, per address,
// and checks them against the results file: each row's relay column
// names the relay that has its copy.
func checkRelays(t *testing.T, results map[int]resultRow, relays ...relay) {
	t.Helper()
	all := map[string]int{}
	for _, r := range relays {
		for to, n := range copies(r.srv) {
			all[to] += n
		}
	}
	checkOnce(t, results, all)
	byName := map[string]relay{}
	for _, r := range relays {
		byName[r.name] = r
	}
	for _, row := range results {
		if row.status != "sent" {
			continue
		}
		r, ok := byName[row.relay]
		if !ok {
			t.Errorf("row %d was sent by relay %q, which is not in the pool", row.row, row.relay)
			continue
		}
		if copies(r.srv)[row.email] != 1 {
			t.Errorf("row %d says relay %s, which has %d copies for %s", row.row, row.relay, copies(r.srv)[row.email], row.email)
		}
	}
}

func relayNamed(sum campaign.SendSummary, name string) campaign.RelaySummary {
	for _, r := range sum.Relays {
		if r.Name == name {
			return r
		}
	}
	return campaign.RelaySummary{}
}

// TestRelaysSpreadByWeight: with every relay up, each takes its weight's
// share of the messages, exactly, and the results file says which.
func TestRelaysSpreadByWeight(t *testing.T) {
	a, b, c := startRelay(t, "a", 2, nil), startRelay(t, "b", 1, nil), startRelay(t, "c", 1, nil)
	cp := newSendCampaign(t, 400, sendKeys{smtp: `security = "none"` + "\n", send: relaysKeys(a, b, c)})
	sum := send(t, cp, campaign.SendOptions{})
	if sum.Sent != 400 || sum.Stopped {
		t.Fatalf("summary = %+v", sum)
	}
	for _, want := range []struct {
		r relay
		n int
	}{{a, 200}, {b, 100}, {c, 100}} {
		if got := want.r.srv.Received(); got != want.n {
			t.Errorf("relay %s got %d messages, want %d (its weight's share)", want.r.name, got, want.n)
		}
		if got := relayNamed(sum, want.r.name).Sent; got != want.n {
			t.Errorf("summary: relay %s sent %d, want %d", want.r.name, got, want.n)
		}
	}
	checkRelays(t, readResults(t, sum.Results), a, b, c)
}

// TestRelayDownFromStart: a relay that refuses connections from the start
// is out; the others take every message, and the summary says why.
func TestRelayDownFromStart(t *testing.T) {
	a, c := startRelay(t, "a", 1, nil), startRelay(t, "c", 1, nil)
	b := startRelay(t, "b", 1, &sandbox.Faults{Connect: func(int) error { return errors.New("down for maintenance") }})
	cp := newSendCampaign(t, 120, sendKeys{smtp: `security = "none"` + "\n", send: relaysKeys(a, b, c)})
	var outs atomic.Int32
	sum := send(t, cp, campaign.SendOptions{RelayOut: func(name, reason string, until time.Time) {
		if name == "b" && strings.Contains(reason, "down for maintenance") && until.After(time.Now()) {
			outs.Add(1)
		}
	}})
	if sum.Sent != 120 || sum.Stopped || b.srv.Received() != 0 {
		t.Fatalf("summary = %+v, relay b got %d", sum, b.srv.Received())
	}
	if rb := relayNamed(sum, "b"); rb.Outages < 1 || !strings.Contains(rb.OutReason, "down for maintenance") {
		t.Errorf("relay b in the summary: %+v", rb)
	}
	if outs.Load() < 1 {
		t.Errorf("RelayOut was not told that b is out")
	}
	if a.srv.Received()+c.srv.Received() != 120 || a.srv.Received() < 50 {
		t.Errorf("a got %d, c got %d: want b's share split between them", a.srv.Received(), c.srv.Received())
	}
	checkRelays(t, readResults(t, sum.Results), a, b, c)
}

// TestRelayFailsMidRun: a relay whose connections start failing in the
// middle of the run (each connection carries 5 messages, then the relay
// refuses new ones) is taken out, its waiting messages move to the other,
// and nobody is lost or gets two copies.
func TestRelayFailsMidRun(t *testing.T) {
	var down atomic.Bool
	a := startRelay(t, "a", 1, nil)
	b := startRelay(t, "b", 1, &sandbox.Faults{Connect: func(int) error {
		if down.Load() {
			return sandbox.ErrDrop
		}
		return nil
	}, Data: func(d sandbox.Delivery) error {
		if strings.HasSuffix(d.To[0], "0040@example.com") {
			down.Store(true) // from now on b takes no new connection
		}
		return nil
	}})
	b.extra = "max_per_connection = 5\n"
	cp := newSendCampaign(t, 300, sendKeys{smtp: `security = "none"` + "\n", send: relaysKeys(a, b)})
	sum := send(t, cp, campaign.SendOptions{})
	if sum.Sent != 300 || sum.Failed != 0 || sum.Stopped {
		t.Fatalf("summary = %+v, want all 300 sent", sum)
	}
	if b.srv.Received() == 0 || b.srv.Received() > 60 || a.srv.Received() < 240 {
		t.Errorf("a got %d, b got %d: want b's share to move to a once it failed", a.srv.Received(), b.srv.Received())
	}
	if rb := relayNamed(sum, "b"); rb.Outages < 1 {
		t.Errorf("relay b was never out: %+v", rb)
	}
	rows := readResults(t, sum.Results)
	checkRelays(t, rows, a, b)
	for _, r := range rows {
		if r.attempts != 1 {
			t.Errorf("row %d took %d attempts: a relay's failure to connect counted against the message", r.row, r.attempts)
			break
		}
	}
}

// TestRelay421Strikes: a relay that answers 421 to every message is out
// after three in a row; none of its messages fails.
func TestRelay421Strikes(t *testing.T) {
	a := startRelay(t, "a", 1, nil)
	b := startRelay(t, "b", 1, &sandbox.Faults{Mail: func(string) error {
		return sandbox.Refuse(421, "4.7.0", "too many connections from your IP")
	}})
	cp := newSendCampaign(t, 60, sendKeys{smtp: `security = "none"` + "\n", send: relaysKeys(a, b)})
	sum := send(t, cp, campaign.SendOptions{})
	if sum.Sent != 60 || sum.Failed != 0 || b.srv.Received() != 0 {
		t.Fatalf("summary = %+v; b got %d", sum, b.srv.Received())
	}
	if rb := relayNamed(sum, "b"); rb.Outages < 1 || !strings.Contains(rb.OutReason, "421") {
		t.Errorf("relay b: %+v", rb)
	}
	checkRelays(t, readResults(t, sum.Results), a, b)
}

// TestUnknownStaysOnItsRelay: a connection lost after the end of DATA
// leaves the row unknown on that relay; the other relay never gets it,
// and --resume leaves it alone.
func TestUnknownStaysOnItsRelay(t *testing.T) {
	var once sync.Once
	drop := func(d sandbox.Delivery) error {
		var err error
		if d.To[0] == addr(7) {
			once.Do(func() { err = sandbox.ErrDropAfterStore })
		}
		return err
	}
	a, b := startRelay(t, "a", 1, &sandbox.Faults{Data: drop}), startRelay(t, "b", 1, &sandbox.Faults{Data: drop})
	cp := newSendCampaign(t, 20, sendKeys{smtp: `security = "none"` + "\n", send: relaysKeys(a, b)})
	sum := send(t, cp, campaign.SendOptions{})
	rows := readResults(t, sum.Results)
	if sum.Unknown != 1 || rows[7].status != "unknown" || rows[7].relay == "" {
		t.Fatalf("summary = %+v, row 7 = %+v", sum, rows[7])
	}
	if n := copies(a.srv)[addr(7)] + copies(b.srv)[addr(7)]; n != 1 {
		t.Fatalf("row 7 reached the relays %d times", n)
	}
	checkRelays(t, rows, a, b)
	sum = send(t, cp, campaign.SendOptions{Resume: true})
	if sum.Sent != 0 || copies(a.srv)[addr(7)]+copies(b.srv)[addr(7)] != 1 {
		t.Fatalf("resume sent again: %+v", sum)
	}
}

// TestEveryRelayOutStops: when every relay is out the run stops, the rest
// is left for --resume, which sends it once the relays are back.
func TestEveryRelayOutStops(t *testing.T) {
	var down atomic.Bool
	faults := &sandbox.Faults{Connect: func(int) error {
		if down.Load() {
			return errors.New("maintenance")
		}
		return nil
	}, Data: func(d sandbox.Delivery) error {
		if d.To[0] == addr(30) {
			down.Store(true)
		}
		return nil
	}}
	a, b := startRelay(t, "a", 1, faults), startRelay(t, "b", 1, faults)
	a.extra, b.extra = "max_per_connection = 3\n", "max_per_connection = 3\n"
	cp := newSendCampaign(t, 200, sendKeys{smtp: `security = "none"` + "\n", send: relaysKeys(a, b)})
	sum := send(t, cp, campaign.SendOptions{})
	if !sum.Stopped || !strings.Contains(sum.StopReason, "every relay is out") || !strings.Contains(sum.StopHint, "--resume") {
		t.Fatalf("summary = %+v, want a stop because every relay is out", sum)
	}
	if sum.Remaining == 0 || sum.Failed != 0 {
		t.Fatalf("summary = %+v: the rows left should be remaining, none failed", sum)
	}
	down.Store(false)
	sum = send(t, cp, campaign.SendOptions{Resume: true})
	if sum.Stopped {
		t.Fatalf("resume stopped: %+v", sum)
	}
	rows := readResults(t, sum.Results)
	if st := statuses(rows); st["sent"] != 200 {
		t.Fatalf("after resume: %v", st)
	}
	checkRelays(t, rows, a, b)
}

// TestRelayLogins: relays share [smtp]'s login unless they have their own;
// each login's password is asked for once, and each relay logs in with its
// own.
func TestRelayLogins(t *testing.T) {
	shared := sandbox.Options{Security: security.None, Username: "nami@example.com", Password: "shared-secret"}
	a := relay{name: "a", weight: 1, srv: startSandbox(t, shared)}
	b := relay{name: "b", weight: 1, srv: startSandbox(t, shared)}
	c := relay{name: "c", weight: 1, srv: startSandbox(t, sandbox.Options{Security: security.None, Username: "backup@example.net", Password: "backup-secret"})}
	c.extra = "username = \"backup@example.net\"\npassword_env = \"BACKUP_PASSWORD\"\n"
	cp := newSendCampaign(t, 30, sendKeys{smtp: "security = \"none\"\nusername = \"nami@example.com\"\n", send: relaysKeys(a, b, c)})
	var asked []campaign.Login
	sum := send(t, cp, campaign.SendOptions{Password: func(l campaign.Login) (string, error) {
		asked = append(asked, l)
		if l.Username == "backup@example.net" {
			return "backup-secret", nil
		}
		return "shared-secret", nil
	}})
	if sum.Sent != 30 || a.srv.Received() != 10 || c.srv.Received() != 10 {
		t.Fatalf("summary = %+v; a %d b %d c %d", sum, a.srv.Received(), b.srv.Received(), c.srv.Received())
	}
	if len(asked) != 2 || asked[0].PasswordEnv != "MAILMERGE_PASSWORD" || asked[1].PasswordEnv != "BACKUP_PASSWORD" || asked[1].Relay != "c" {
		t.Errorf("passwords asked for: %+v, want [smtp]'s once and c's once", asked)
	}
}

// TestRelayConfigErrors: check names each relay's mistakes at their lines
// (a placeholder host is a warning there, an error for send).
func TestRelayConfigErrors(t *testing.T) {
	a := startRelay(t, "a", 1, nil)
	for _, tc := range []struct {
		name, relays, want string
	}{
		{"same name twice", relaysKeys(a, a), `relays.2.name: "a" names relays 1 and 2`},
		{"negative weight", "\n[[relays]]\nname = \"x\"\nhost = \"127.0.0.1\"\nweight = -1\n", "relays.1.weight: -1 is negative"},
		{"bad rate", "\n[[relays]]\nname = \"x\"\nhost = \"127.0.0.1\"\nrate = \"fast\"\n", "relays.1.rate"},
		{"bad port", relaysKeys(a) + "\n[[relays]]\nname = \"y\"\nhost = \"127.0.0.1\"\nport = 99999\n", "relays.2.port: 99999 is not a port number"},
		{"placeholder host", "\n[[relays]]\nname = \"x\"\nhost = \"smtp.example.com\"\n", "relays.1.host: smtp.example.com is a placeholder"},
		{"credentials in clear", "\n[[relays]]\nname = \"x\"\nhost = \"10.1.2.3\"\nusername = \"u\"\n", "refusing to send credentials without TLS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cp := newSendCampaign(t, 2, sendKeys{smtp: `security = "none"` + "\n", send: "rate = \"10/s\"\n" + tc.relays})
			var got []string
			sum, err := cp.Check(context.Background(), campaign.CheckOptions{}, func(p campaign.Problem) {
				got = append(got, p.Message)
			})
			if err != nil {
				t.Fatal(err)
			}
			joined := strings.Join(got, "\n")
			if sum.Errors+sum.Warnings == 0 || !strings.Contains(joined, tc.want) || !strings.Contains(joined, "campaign.toml:") {
				t.Fatalf("errors:\n%s\nwant one with %q at its line", joined, tc.want)
			}
		})
	}
}

// bounces reads the mailbox with [smtp]'s password, from its password_env
// or password_command, even when only [imap] has a username.
func TestSMTPLoginWithoutUsername(t *testing.T) {
	cp := newSendCampaign(t, 1, sendKeys{smtp: "host = \"127.0.0.1\"\nsecurity = \"none\"\npassword_command = \"pass show mail\"\n"})
	l := cp.SMTPLogin()
	if l.PasswordEnv != "MAILMERGE_PASSWORD" || l.PasswordCommand != "pass show mail" || l.Username != "" {
		t.Errorf("SMTPLogin = %+v", l)
	}
}
