package campaign_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/sandbox"
)

// TestCheckFindsWhatSendRefuses: every setting send would refuse is an
// error of check, at its line, and send refuses it the same way before it
// connects to anything.
func TestCheckFindsWhatSendRefuses(t *testing.T) {
	const good = "host = \"127.0.0.1\"\nsecurity = \"none\"\n"
	for _, tc := range []struct {
		name       string
		keys       sendKeys
		want, hint string
	}{
		{"security", sendKeys{smtp: "host = \"127.0.0.1\"\nsecurity = \"tsl\"\n"}, `smtp.security: unknown security "tsl"`, "starttls"},
		{"provider", sendKeys{smtp: "provider = \"qqq\"\n"}, `smtp.provider: unknown provider "qqq"`, "known providers"},
		{"no host", sendKeys{smtp: ""}, "smtp: no SMTP host", "--sandbox DIR needs none"},
		{"port", sendKeys{smtp: good + "port = 70000\n"}, "smtp.port: 70000 is not a port number", "465"},
		{"negative port", sendKeys{smtp: good + "port = -1\n"}, "smtp.port: -1 is not a port number", ""},
		{"dial timeout", sendKeys{smtp: good + "dial_timeout = \"soon\"\n"}, `smtp.dial_timeout: duration "soon"`, ""},
		{"data timeout", sendKeys{smtp: good + "data_timeout = \"-5s\"\n"}, `smtp.data_timeout: duration "-5s"`, ""},
		{"auth", sendKeys{smtp: good + "auth = \"digest-md5\"\n"}, `smtp.auth: unknown mechanism "digest-md5"`, "cram-md5"},
		{"helo", sendKeys{smtp: good + "helo_name = \"my laptop\"\n"}, `smtp.helo_name: "my laptop" contains white space`, ""},
		{"ca file missing", sendKeys{smtp: good + "ca_file = \"nope.pem\"\n"}, "smtp.ca_file: no such file", ""},
		{"ca file not PEM", sendKeys{smtp: good + "ca_file = \"list.csv\"\n"}, "smtp.ca_file: no PEM certificate", ""},
		{"password in clear", sendKeys{smtp: "host = \"mail.relay.internal\"\nsecurity = \"none\"\nusername = \"nami\"\n"}, "refusing to send credentials without TLS", ""},
		{"rate", sendKeys{smtp: good, send: "rate = \"10/x\"\n"}, `send.rate: `, ""},
		{"retry delay", sendKeys{smtp: good, send: "retry_delay = \"soon\"\n"}, `send.retry_delay: duration "soon"`, ""},
		{"workers", sendKeys{smtp: good, send: "workers = -2\n"}, "send.workers: -2 is negative", ""},
		{"attempts", sendKeys{smtp: good, send: "attempts = -1\n"}, "send.attempts: -1 is negative", ""},
		{"burst", sendKeys{smtp: good, send: "burst = -1\n"}, "send.burst: -1 is negative", ""},
		{"per connection", sendKeys{smtp: good, send: "max_per_connection = -1\n"}, "send.max_per_connection: -1 is negative", ""},
		{"stop after", sendKeys{smtp: good, send: "stop_after_failures = -1\n"}, "send.stop_after_failures: -1 is negative", "0 never stops"},
		{"results folder", sendKeys{smtp: good, send: "results = \"no/such/folder/results.csv\"\n"}, "send.results: folder ", "create the folder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(tc.keys.send, "rate") {
				tc.keys.send += "rate = \"10/s\"\n"
			}
			c := newSendCampaign(t, 2, tc.keys)
			var ps []campaign.Problem
			sum, err := c.Check(context.Background(), campaign.CheckOptions{}, collect(&ps))
			if err != nil {
				t.Fatal(err)
			}
			if sum.Errors != 1 || len(ps) != 1 || !strings.Contains(ps[0].Message, tc.want) || !strings.Contains(ps[0].Hint, tc.hint) {
				t.Fatalf("check: %d errors, problems %+v; want one error %q with hint %q", sum.Errors, ps, tc.want, tc.hint)
			}
			if !strings.HasPrefix(ps[0].Message, c.Path+":") {
				t.Errorf("problem %q does not name the campaign file", ps[0].Message)
			}
			_, err = c.Send(context.Background(), campaign.SendOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("send: %v, want the error check reported", err)
			}
			if _, serr := os.Stat(c.ResultsPath()); serr == nil {
				t.Errorf("send left %s behind", c.ResultsPath())
			}
		})
	}
}

// TestCheckValidSettings: a good [smtp], a provider with its preset rate,
// and a readable CA file check clean.
func TestCheckValidSettings(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	writeFile(t, ca, string(startSandbox(t, sandbox.Options{}).CAPEM()))
	for _, keys := range []sendKeys{
		{smtp: "host = \"127.0.0.1\"\nsecurity = \"none\"\n", send: "rate = \"10/s\"\nstop_after_failures = 0\n"},
		{smtp: "provider = \"gmail\"\n"}, // its rate applies
		{smtp: "provider = \"QQ\"\nport = 587\nsecurity = \"starttls\"\n"},
		{smtp: "host = \"mail.relay.internal\"\nca_file = \"" + ca + "\"\nhelo_name = \"box.example.com\"\nauth = \"LOGIN\"\nusername = \"u\"\n", send: "rate = \"1/s\"\n"},
	} {
		c := newSendCampaign(t, 2, keys)
		var ps []campaign.Problem
		sum, err := c.Check(context.Background(), campaign.CheckOptions{}, collect(&ps))
		if err != nil || sum.Errors+sum.Warnings != 0 {
			t.Errorf("%+v: check %v, problems %+v; want clean", keys, err, ps)
		}
	}
}

// TestPlaceholderHost: the smtp.example.com that init and the samples
// write checks with a warning that names it, a real send refuses it before
// it connects, and the sandbox, which ignores [smtp], still sends.
func TestPlaceholderHost(t *testing.T) {
	for _, host := range []string{"smtp.example.com", "EXAMPLE.org", "mail.relay.test", "smtp.example.net."} {
		c := newSendCampaign(t, 2, sendKeys{smtp: "host = \"" + host + "\"\n", send: "rate = \"10/s\"\n"})
		var ps []campaign.Problem
		sum, err := c.Check(context.Background(), campaign.CheckOptions{}, collect(&ps))
		if err != nil || sum.Errors != 0 || sum.Warnings != 1 || !strings.Contains(ps[0].Message, "smtp.host: "+host+" is a placeholder") {
			t.Errorf("%s: check %v: %+v, problems %+v; want one warning naming the host", host, err, sum, ps)
		}
		_, err = c.Send(context.Background(), campaign.SendOptions{})
		if err == nil || !strings.Contains(err.Error(), "is a placeholder") {
			t.Errorf("%s: send: %v, want it refused", host, err)
		}
		if _, serr := os.Stat(c.ResultsPath()); serr == nil {
			t.Errorf("%s: send left %s behind", host, c.ResultsPath())
		}
	}
	c := newSendCampaign(t, 2, sendKeys{smtp: "host = \"smtp.example.com\"\n", send: "rate = \"100/s\"\n"})
	sb := startSandbox(t, sandbox.Options{})
	sum, err := c.Send(context.Background(), campaign.SendOptions{Server: target(sb)})
	if err != nil || sum.Sent != 2 {
		t.Errorf("sandbox send: %+v, %v; want 2 sent", sum, err)
	}
}

// TestCheckWarnsWithoutRate: no rate and no provider preset means no limit
// at all; check says so, and a --rate flag or a provider silences it.
func TestCheckWarnsWithoutRate(t *testing.T) {
	c := newSendCampaign(t, 2, sendKeys{smtp: "host = \"127.0.0.1\"\nsecurity = \"none\"\n"})
	var ps []campaign.Problem
	sum, err := c.Check(context.Background(), campaign.CheckOptions{}, collect(&ps))
	if err != nil || sum.Errors != 0 || sum.Warnings != 1 || !strings.Contains(ps[0].Message, "no [send] rate") || !strings.Contains(ps[0].Hint, "/d") {
		t.Fatalf("check %v: %+v, problems %+v; want one warning about the rate", err, sum, ps)
	}
}

// TestCheckPasswordSource: with a username, check asks cmd whether send
// will find a password; none is an error, or a warning when send can ask
// on a terminal. Without a username nothing is asked.
func TestCheckPasswordSource(t *testing.T) {
	missing := func(campaign.Login) error { return errors.New("MAILMERGE_PASSWORD is not set") }
	asked := 0
	found := func(campaign.Login) error { asked++; return nil }
	const server = "host = \"127.0.0.1\"\nsecurity = \"none\"\n"
	user := sendKeys{smtp: server + "username = \"nami@example.com\"\n", send: "rate = \"1/s\"\n"}
	for _, tc := range []struct {
		name       string
		keys       sendKeys
		opts       campaign.CheckOptions
		errs, warn int
	}{
		{"missing", user, campaign.CheckOptions{PasswordSource: missing}, 1, 0},
		{"terminal", user, campaign.CheckOptions{PasswordSource: missing, CanPrompt: true}, 0, 1},
		{"found", user, campaign.CheckOptions{PasswordSource: found}, 0, 0},
		{"no username", sendKeys{smtp: server, send: "rate = \"1/s\"\n"}, campaign.CheckOptions{PasswordSource: missing}, 0, 0},
	} {
		c := newSendCampaign(t, 2, tc.keys)
		var ps []campaign.Problem
		sum, err := c.Check(context.Background(), tc.opts, collect(&ps))
		if err != nil || sum.Errors != tc.errs || sum.Warnings != tc.warn {
			t.Errorf("%s: check %v, problems %+v; want %d errors, %d warnings", tc.name, err, ps, tc.errs, tc.warn)
			continue
		}
		if tc.errs == 1 && (!strings.Contains(ps[0].Message, "no password for nami@example.com: MAILMERGE_PASSWORD is not set") ||
			!strings.Contains(ps[0].Hint, "export MAILMERGE_PASSWORD=")) {
			t.Errorf("%s: problem %+v", tc.name, ps[0])
		}
	}
	if asked != 1 {
		t.Errorf("password source asked %d times, want once", asked)
	}
}
