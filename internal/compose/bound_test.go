package compose

import (
	"fmt"
	"strings"
	"testing"
)

func TestShapeOf(t *testing.T) {
	cases := []struct {
		body   string
		html   bool
		simple bool
	}{
		{"Hello {{.name}},\n\nyour number is {{.id}}.\n", false, true},
		{"{{if .vip}}Dear {{.name}}{{else}}Hello{{end}}", false, true},
		{"{{.name | upper}}", false, false},
		{"{{upper .name}}", false, false},
		{"{{index . \"First Name\"}}", false, false},
		{"{{$x := .name}}{{$x}}", false, false},
		{"{{range splitList \",\" .items}}{{.}}{{end}}", false, false},
		{"{{with .name}}{{.}}{{end}}", false, false},
		{"{{define \"x\"}}{{.name}}{{end}}{{template \"x\" .}}", false, false},
		{"<p>Hello {{.name}}</p><img src=\"logo.png\">", true, true},
		{"<p>{{if .vip}}<b>{{.name}}</b>{{end}}</p>", true, true},
		{"<p>{{if .vip}}<img src=\"gold.png\">{{end}}</p>", true, false},
		{"<a href=\"{{.url}}\">x</a>", true, false},
		{"<p title=\"{{.name}}\">x</p>", true, false},
		{"<script>var x = {{.name}};</script>", true, false},
		{"<title>{{.name}}</title>", true, false},
	}
	for _, tc := range cases {
		tm, err := parseTemplate(Source{File: "body", Line: 1, Text: tc.body}, tc.html)
		if err != nil {
			t.Fatalf("%q: %v", tc.body, err)
		}
		if tc.html {
			fields := map[string]string{"name": "x", "vip": "", "url": "https://example.com"}
			if _, err := runOnce(tm, fields, 1<<20); err != nil {
				t.Fatalf("%q: %v", tc.body, err)
			}
		}
		if got := tm.simple() != nil; got != tc.simple {
			t.Errorf("%q: simple = %v, want %v", tc.body, got, tc.simple)
		}
	}
}

// The bound is never below what the body renders to, for values full of
// what HTML escaping grows most.
func TestShapeBound(t *testing.T) {
	body := "<p>{{if .vip}}Dear {{.name}}{{else}}Hello {{.name}}{{end}}, {{.note}}</p>"
	tm, err := parseTemplate(Source{File: "body.html", Line: 1, Text: body}, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"", "plain", `"'&<>+`, strings.Repeat(`"`, 100), "\x00\x00", "王小明"} {
		fields := map[string]string{"name": v, "note": v + v, "vip": v}
		out, err := runOnce(tm, fields, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		n, ok := tm.simple().bound(fields)
		if !ok || n < int64(len(out)) {
			t.Errorf("value %q: bound %d, rendered %d", v, n, len(out))
		}
	}
	if _, ok := tm.simple().bound(map[string]string{"name": "x"}); ok {
		t.Error("a bound without every column")
	}
}

// Validate skips simple bodies only where nothing changes: images that
// depend on the row, sizes near the limit and broken images come out as
// Compose says.
func TestValidateSkipsOnlySafely(t *testing.T) {
	spec := Spec{
		From:    Source{File: "campaign.toml", Key: "from", Line: 1, Text: "Nami <nami@example.com>"},
		To:      Source{File: "campaign.toml", Key: "to", Line: 1, Text: "{{.email}}"},
		Subject: Source{File: "campaign.toml", Key: "subject", Line: 1, Text: "Hi {{.name}}"},
		Text:    Source{File: "body.txt", Line: 1, Text: "Hi {{.name}}\n{{.note}}\n"},
		HTML:    Source{File: "body.html", Line: 1, Text: "<p><img src=\"logo.png\">Hi {{.name}}</p>\n<p>{{.note}}</p>\n"},
		Dir:     "testdata",
		MaxSize: 64 << 10,
	}
	vary := spec
	vary.HTML.Text = "<p>{{if .vip}}<img src=\"missing.png\">{{end}}Hi {{.name}}</p>"
	broken := spec
	broken.HTML.Text = "<p><img src=\"missing.png\">Hi {{.name}}</p>"
	notes := []string{
		"short",
		strings.Repeat("a", 12<<10), // bound over the limit, message well under it
		strings.Repeat(`"`, 12<<10), // escaped, the HTML part alone is about 60 KB
		strings.Repeat("a", 40<<10), // over the limit in any case
	}
	refused, taken := 0, 0
	for si, s := range []Spec{spec, vary, broken} {
		c, err := New(s)
		if err != nil {
			t.Fatal(err)
		}
		for i, note := range notes {
			for _, vip := range []string{"", "yes"} {
				fields := map[string]string{"email": fmt.Sprintf("r%d@example.com", i), "name": "Bob", "note": note, "vip": vip}
				_, cerr := c.Compose(i+1, fields)
				_, verr := c.Validate(i+1, fields)
				if fmt.Sprint(cerr) != fmt.Sprint(verr) {
					t.Errorf("spec %d, note %d, vip %q: Compose %v, Validate %v", si, i, vip, cerr, verr)
				}
				if cerr != nil {
					refused++
				} else {
					taken++
				}
			}
		}
	}
	if refused < 10 || taken < 6 {
		t.Errorf("%d refused, %d taken: the cases no longer cover both", refused, taken)
	}
	// The plain spec is simple throughout: Validate really skips its bodies.
	c, _ := New(spec)
	fields := map[string]string{"email": "a@example.com", "name": "Bob", "note": "x", "vip": ""}
	if _, err := c.Validate(1, fields); err != nil {
		t.Fatal(err)
	}
	r, err := c.render(fields, true)
	if err != nil || !r.textSkipped || !r.htmlSkipped || r.text != "" || r.html != "" {
		t.Errorf("second row: text skipped %v, html skipped %v, err %v", r.textSkipped, r.htmlSkipped, err)
	}
}
