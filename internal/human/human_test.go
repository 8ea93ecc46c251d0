package human

import (
	"errors"
	"fmt"
	"testing"
)

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 bytes", 1023: "1023 bytes", 1024: "1 KB", 1536: "1.5 KB",
		25 << 20: "25 MB", 3<<20 + 1<<19: "3.5 MB", 2 << 30: "2 GB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestClipKeepsCharactersWhole(t *testing.T) {
	for _, c := range []struct {
		in   string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"550 mailbox unavailable", 8, "550 mai…"},
		{"收件人不存在请检查地址", 5, "收件人不…"},
		{"abc", 0, ""},
	} {
		if got := Clip(c.in, c.max); got != c.want {
			t.Errorf("Clip(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
		}
	}
}

type hinted struct{ hint string }

func (h *hinted) Error() string { return "bad" }
func (h *hinted) Hint() string  { return h.hint }

func TestHintFindsTheFirstInTheChain(t *testing.T) {
	inner := &hinted{"set encoding"}
	if got := Hint(fmt.Errorf("row 3: %w", inner)); got != "set encoding" {
		t.Errorf("wrapped: %q", got)
	}
	if got := Hint(errors.Join(errors.New("plain"), fmt.Errorf("x: %w", inner))); got != "set encoding" {
		t.Errorf("joined: %q", got)
	}
	if got := Hint(fmt.Errorf("outer: %w", &hinted{""})); got != "" {
		t.Errorf("empty hint: %q", got)
	}
	if got := Hint(nil); got != "" {
		t.Errorf("nil: %q", got)
	}
}

// A Chinese character takes two columns on screen, a combining accent none:
// a table that counted runes would put the next column out of line.
func TestWidth(t *testing.T) {
	for s, want := range map[string]int{
		"ana@example.com": 15,
		"用户@例子.公司":        14,
		"josé":            4,
		"jose\u0301":      4, // e and a combining acute accent
		"ＡＢ":              4, // full-width letters
		"":                0,
	} {
		if got := Width(s); got != want {
			t.Errorf("Width(%q) = %d, want %d", s, got, want)
		}
	}
}
