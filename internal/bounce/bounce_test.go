package bounce

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCorpus classifies every real report in testdata (see SOURCES.md)
// against the expectation written for it in expect.txt.
func TestCorpus(t *testing.T) {
	f, err := os.Open("testdata/expect.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		w := strings.Fields(line)
		if len(w) != 5 {
			t.Fatalf("expect.txt: %q: want 5 fields", line)
		}
		name, kind, rcpt, status, id := w[0], strings.ReplaceAll(w[1], "-", " "), w[2], w[3], w[4]
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			r := classifyFile(t, name)
			if r.Kind.String() != kind {
				t.Errorf("kind %q, want %q", r.Kind, kind)
			}
			got := Recipient{Address: "-", Status: "-"}
			if len(r.Recipients) > 0 {
				got = r.Recipients[0]
			}
			if got.Address != rcpt || got.Status != status {
				t.Errorf("first recipient %s %s, want %s %s", got.Address, got.Status, rcpt, status)
			}
			if id == "-" {
				id = ""
			}
			if r.MessageID != id {
				t.Errorf("Message-ID %q, want %q", r.MessageID, id)
			}
			if r.Kind >= Delayed && got.Diagnostic == "" && !strings.Contains(name, "outlook-06") &&
				!strings.Contains(name, "sendmail-29") && !strings.HasPrefix(name, "rfc3464-0") {
				t.Errorf("no diagnostic")
			}
		})
	}
	files, _ := filepath.Glob("testdata/*.eml")
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			t.Errorf("%s has no line in expect.txt", f)
		}
	}
	if len(seen) < 20 {
		t.Errorf("corpus of %d messages, want at least 20", len(seen))
	}
}

// TestCorpusEveryRecipient checks reports that name several recipients.
func TestCorpusEveryRecipient(t *testing.T) {
	for name, want := range map[string][]string{
		"lhost-exim-02.eml":  {"kijitora@example.jp hard 5.1.1", "sabatora@example.jp hard 5.2.1"},
		"lhost-qmail-02.eml": {"userunknown@example.jp hard 5.1.1", "filtered@example.jp hard 5.2.1"},
	} {
		r := classifyFile(t, name)
		var got []string
		for _, rc := range r.Recipients {
			got = append(got, rc.Address+" "+rc.Kind.String()+" "+rc.Status)
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: recipients\n%s\nwant\n%s", name, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

// classifyFile classifies the corpus message testdata/name.
func classifyFile(t *testing.T, name string) Report {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Classify(raw)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
