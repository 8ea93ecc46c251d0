package unsubscribe

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

var secret = []byte("0123456789abcdef-not-a-real-one")

func signer(t *testing.T) *Signer {
	t.Helper()
	s, err := NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTokenRoundTrip: a token gives back its address, Chinese and IDN
// ones included, and holds only characters a URL and a header take as
// they are.
func TestTokenRoundTrip(t *testing.T) {
	s := signer(t)
	safe := regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	for _, addr := range []string{"alice@example.com", "张三@例子.中国", "o'brien+news@example.org", "\"a b\"@example.com"} {
		tok := s.Token(addr)
		if !safe.MatchString(tok) {
			t.Errorf("%s: token %q holds characters a link must escape", addr, tok)
		}
		got, err := s.Verify(tok)
		if err != nil || got != addr {
			t.Errorf("Verify(Token(%q)) = %q, %v", addr, got, err)
		}
	}
}

// TestTokenForged: a token changed in any way, made for another address
// by hand, or made with another secret is refused.
func TestTokenForged(t *testing.T) {
	s := signer(t)
	tok := s.Token("alice@example.com")
	other, _ := NewSigner([]byte("another-secret-of-enough-bytes"))
	addrPart, macPart, _ := strings.Cut(tok, ".")
	bob := b64.EncodeToString([]byte("bob@example.com"))
	forged := map[string]string{
		"empty":              "",
		"no mac":             addrPart,
		"mac only":           "." + macPart,
		"other address":      bob + "." + macPart,
		"mac of other key":   other.Token("alice@example.com"),
		"mac cut short":      addrPart + "." + macPart[:20],
		"mac with a byte on": tok + "A",
		"not base64":         "!!!." + macPart,
		"a second dot":       tok + ".x",
		"huge":               strings.Repeat("A", 100000) + "." + macPart,
	}
	last := []byte(macPart)
	last[0] ^= 1 // still base64, another MAC
	forged["one bit changed"] = addrPart + "." + string(last)
	for name, f := range forged {
		if addr, err := s.Verify(f); !errors.Is(err, ErrBadToken) {
			t.Errorf("%s: Verify = %q, %v; want ErrBadToken", name, addr, err)
		}
	}
	if s.Token("alice@example.com") == s.Token("Alice@example.com") {
		t.Error("two addresses have one token")
	}
}

func TestNewSignerRefusesShortSecret(t *testing.T) {
	for _, sec := range []string{"", "short", strings.Repeat("x", MinSecret-1)} {
		if _, err := NewSigner([]byte(sec)); !errors.Is(err, ErrShortSecret) {
			t.Errorf("NewSigner(%d bytes) = %v", len(sec), err)
		}
	}
	if _, err := NewSigner([]byte(strings.Repeat("x", MinSecret))); err != nil {
		t.Errorf("NewSigner(%d bytes) = %v", MinSecret, err)
	}
}

func TestLinks(t *testing.T) {
	s := signer(t)
	tok := s.Token("alice@example.com")
	for base, want := range map[string]string{
		"https://news.example.com/u":        "https://news.example.com/u?t=" + tok,
		"https://news.example.com/u?list=7": "https://news.example.com/u?list=7&t=" + tok,
	} {
		if got := s.URL(base, "alice@example.com"); got != want {
			t.Errorf("URL(%q) = %q, want %q", base, got, want)
		}
	}
	if got, want := s.Mailto("unsubscribe@example.com", "alice@example.com"), "mailto:unsubscribe@example.com?subject=unsubscribe%20"+tok; got != want {
		t.Errorf("Mailto = %q, want %q", got, want)
	}
}

func TestCheckURL(t *testing.T) {
	for _, ok := range []string{"https://news.example.com/u", "https://example.com/list/u?l=2", "http://127.0.0.1:8025/u", "http://localhost/u", "http://[::1]:8025/"} {
		if err := CheckURL(ok); err != nil {
			t.Errorf("CheckURL(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"http://news.example.com/u", "ftp://example.com/u", "news.example.com/u", "https:///u",
		"https://user:pw@example.com/u", "https://example.com/u#top", "https://example.com/a b", "https://例子.中国/u",
		"https://example.com/<u>", "https://example.com/" + strings.Repeat("u", 500)} {
		if err := CheckURL(bad); err == nil {
			t.Errorf("CheckURL(%q) accepted it", bad)
		}
	}
}
