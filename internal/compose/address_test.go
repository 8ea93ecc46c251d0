package compose_test

import (
	"strings"
	"testing"

	"github.com/mailmerge/mailmerge/internal/compose"
	"github.com/mailmerge/mailmerge/internal/human"
)

// The usual typos in an address cell are named in plain words, with the
// template and the field that rendered them.
func TestAddressTyposInPlainWords(t *testing.T) {
	cases := []struct{ cell, why string }{
		{"bob@", "domain missing"},
		{"@example.com", "nothing before the @"},
		{"bob..smith@example.com", "two dots in a row"},
		{"bob@example..com", "two dots in a row"},
		{"bob.@example.com", "a dot right before the @"},
		{".bob@example.com", "starts with a dot"},
		{"bob@example.com.", "ends with a dot"},
		{"bob@.example.com", "a dot right after the @"},
		{"bob smith@example.com", "a space inside the address"},
		{"bob@exam ple.com", "a space inside the address"},
		{"bob.example.com", "the @ is missing"},
		{"bob@@example.com", "more than one @"},
		{"bob@smith@example.com", "more than one @"},
		{"bob,smith@example.com", `"," is not allowed before the @`},
		{"bob@example,com", `"," is not allowed in the domain`},
		{"bob@example", `domain "example" has no dot`},
		{"info@exämple-.com", `domain "exämple-.com" is not a valid international domain name`},
	}
	c, err := compose.New(compose.Spec{From: src("from", "Nami <nami@example.com>"),
		To: src("to", "{{.email}}"), Text: src("text", "hi")})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		_, err := c.Compose(1, map[string]string{"email": tc.cell})
		want := `campaign.toml:1: to: "` + tc.cell + `" is not a valid address: ` + tc.why
		if err == nil || err.Error() != want {
			t.Errorf("%q:\n got %v\nwant %s", tc.cell, err, want)
		}
		if err != nil && strings.Contains(human.Hint(err), "data cannot add recipients") {
			t.Errorf("%q: a typo hinted %q", tc.cell, human.Hint(err))
		}
	}
}

// Quoted local parts, international domains and local parts are addresses:
// the envelope carries them in net/mail's form, and says which need
// SMTPUTF8.
func TestInternationalAndQuotedAddresses(t *testing.T) {
	cases := []struct {
		cell, envelope string
		utf8           bool
	}{
		{`"john doe"@example.com`, "john doe@example.com", false},
		{`"john..doe"@example.com`, "john..doe@example.com", false},
		{"info@exämple.com", "info@exämple.com", false},
		{"用户@例子.公司", "用户@例子.公司", true},
	}
	c, err := compose.New(compose.Spec{From: src("from", "Nami <nami@example.com>"),
		To: src("to", "{{.email}}"), Text: src("text", "hi")})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		m, err := c.Compose(1, map[string]string{"email": tc.cell})
		if err != nil {
			t.Errorf("%q: %v", tc.cell, err)
			continue
		}
		if got := m.Envelope.To; len(got) != 1 || got[0] != tc.envelope {
			t.Errorf("%q: envelope %q, want %q", tc.cell, got, tc.envelope)
		}
		if got := m.Envelope.NeedsSMTPUTF8(); got != tc.utf8 {
			t.Errorf("%q: NeedsSMTPUTF8 %v, want %v", tc.cell, got, tc.utf8)
		}
	}
	if !(compose.Envelope{From: "用户@example.com", To: []string{"a@example.com"}}).NeedsSMTPUTF8() {
		t.Error("a sender with a non-ASCII local part does not need SMTPUTF8")
	}
}
