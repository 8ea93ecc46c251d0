package compose

import (
	"errors"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// runOnce runs one template for fields with a size limit, as a row would.
func runOnce(t *tmpl, fields map[string]string, limit int64) (string, error) {
	x := newExecutor([]*tmpl{t})
	x.buf.start(limit, DefaultTimeout)
	return x.run(t, fields)
}

// allocated runs f and returns how many bytes it allocated.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

const (
	tooLarge = "rendered message is larger than the limit of 25 MB"
	tooMany  = " would build more than 10000 values, the most a template may hold"
)

// Every function whose result can grow past its arguments stops at the
// message size or at 10000 values, naming the line, before it fills the
// memory: in text and in HTML.
func TestFunctionsThatGrowAreCapped(t *testing.T) {
	cases := []struct{ body, want string }{
		// the two reproductions of issue 11
		{`{{indent 900000000 "x"}}`, tooLarge},
		{"\n{{range (split \"\" (printf \"%9000000s\" \"\"))}}{{end}}", "split" + tooMany},

		{`{{nindent 900000000 "x"}}`, tooLarge},
		{`{{indent 30 (printf "%1000000s" "" | replace " " "\n")}}`, tooLarge},
		{`{{wrapWith 1 (printf "%1000000s" "") (printf "%1000s" "")}}`, tooLarge},
		{`{{replace "" (printf "%100000s" "") (printf "%100000s" "")}}`, tooLarge},
		{`{{regexReplaceAll "" (printf "%9000s" "") (printf "%100000s" "")}}`, tooLarge},
		{`{{regexReplaceAll "( ?)" (printf "%20000s" "") "$1"}}`, "regexReplaceAll" + tooMany},
		{`{{regexReplaceAll "( ?)" (printf "%9000s" "") "$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1"}}`, tooLarge},
		{`{{regexReplaceAllLiteral "" (printf "%9000s" "") (printf "%100000s" "")}}`, tooLarge},
		{`{{printf "%9999999s%9999999s%9999999s" "" "" ""}}`, tooLarge},
		{`{{printf "` + strings.Repeat("%[1]*[2]s", 30) + `" 1000000 ""}}`, tooLarge},
		{`{{printf "%.9999999f%.9999999f%.9999999f" 1.0 1.0 1.0}}`, tooLarge},
		{`{{join (printf "%100000s" "") (splitList "," (printf "%1000s" "" | replace " " ","))}}`, tooLarge},
		{`{{len (splitList "" (printf "%20000s" ""))}}`, "splitList" + tooMany},
		{`{{len (splitn "" -1 (printf "%20000s" ""))}}`, "splitn" + tooMany},
		{`{{len (regexSplit "" (printf "%20000s" "") -1)}}`, "regexSplit" + tooMany},
		{`{{len (regexFindAll "" (printf "%20000s" "") -1)}}`, "regexFindAll" + tooMany},
		{`{{$l := list 1}}{{range splitList "," (printf "%30s" "" | replace " " ",")}}{{$l = list $l $l}}{{end}}{{len $l}}`, "list" + tooMany},
		{`{{$l := list 1}}{{range splitList "," (printf "%30s" "" | replace " " ",")}}{{$l = concat $l $l}}{{end}}{{len $l}}`, "concat" + tooMany},
		{`{{$l := list 1}}{{range splitList "," (printf "%30s" "" | replace " " ",")}}{{$l = append $l $l}}{{end}}{{len $l}}`, "append" + tooMany},
		{`{{$s := printf "%9000000s" ""}}{{cat $s $s $s}}`, tooLarge},
		{`{{$s := printf "%9000000s" ""}}{{print $s $s $s}}`, tooLarge},
		{`{{$s := printf "%9000000s" ""}}{{len (list $s $s $s)}}`, tooLarge},
		{`{{toPrettyJson (fromJson (print (printf "%5000s" "" | replace " " "[") (printf "%5000s" "" | replace " " "]")))}}`, tooLarge},
		{`{{len (fromJson (printf "[%20000s0]" "" | replace " " "0,"))}}`, "fromJson" + tooMany},
		{`{{chunk 0 (list 1 2)}}`, "chunk size must be at least 1"},
	}
	for _, tc := range cases {
		for _, html := range []bool{false, true} {
			tm, err := parseTemplate(Source{File: "body.txt", Line: 1, Text: tc.body}, html)
			if err != nil {
				t.Fatalf("%s: %v", tc.body, err)
			}
			var out string
			bytes := allocated(func() { out, err = runOnce(tm, map[string]string{}, DefaultMaxSize) })
			line := 1 + strings.Count(tc.body, "\n")
			var te *TemplateError
			if !errors.As(err, &te) || !strings.HasPrefix(err.Error(), "body.txt:"+strconv.Itoa(line)+": ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("html %v: %s\n got %d bytes, %v\nwant body.txt:%d: ...%s", html, tc.body, len(out), err, line, tc.want)
			}
			// What a template may hold is one message; a few of them pass
			// through while it is built.
			if bytes > 6*DefaultMaxSize {
				t.Errorf("html %v: %s allocated %d MB", html, tc.body, bytes>>20)
			}
		}
	}
}

// The bounded functions still do their job at sizes a mail uses.
func TestFunctionsWithinLimits(t *testing.T) {
	cases := []struct{ body, want string }{
		{`{{indent 2 "a\nb"}}|{{nindent 1 "c"}}`, "  a\n  b|\n c"},
		{`{{wrapWith 5 "<br>" "hello world again"}}`, "hello<br>world<br>again"},
		{`{{replace "," ";" "a,b,c"}}|{{replace "" "-" "ab"}}`, "a;b;c|-a-b-"},
		{`{{regexReplaceAll "(\\w+)@" "ann@x bob@y" "${1}_at_"}}`, "ann_at_x bob_at_y"},
		{`{{join ", " (splitList ";" "a;b;c")}}`, "a, b, c"},
		{`{{range $k, $v := split "," "x,y"}}{{$k}}={{$v}} {{end}}`, "_0=x _1=y "},
		{`{{printf "%-6s|%6.2f|%*d|%[1]s" "ab" 3.14159 4 7}}`, "ab    |  3.14|   7|ab"},
		{`{{toPrettyJson (dict "a" (list 1 2))}}`, "{\n  \"a\": [\n    1,\n    2\n  ]\n}"},
		{`{{(fromJson "{\"n\": [1, 2, 3]}").n | len}}`, "3"},
		{`{{len (splitList "" (printf "%10000s" ""))}}`, "10000"},
		{`{{chunk 2 (list 1 2 3) | len}}`, "2"},
		{`{{define "row"}}[{{.}}]{{end}}{{range splitList "," "a,b"}}{{template "row" .}}{{end}}`, "[a][b]"},
	}
	for _, tc := range cases {
		tm, err := parseTemplate(Source{File: "body.txt", Line: 1, Text: tc.body}, false)
		if err != nil {
			t.Fatalf("%s: %v", tc.body, err)
		}
		if out, err := runOnce(tm, map[string]string{}, DefaultMaxSize); err != nil || out != tc.want {
			t.Errorf("%s\n got %q, %v\nwant %q", tc.body, out, err, tc.want)
		}
	}
}

// A template that loops without writing or calling anything stops at the
// time limit, with the line of the loop, and leaves no goroutine behind.
func TestRunawayLoopStopsAtTheTimeLimit(t *testing.T) {
	bodies := map[string]string{
		// nested: rendered on a goroutine the caller can walk away from
		"nested": "{{$l := splitList \",\" (printf \"%999s\" \"\" | replace \" \" \",\")}}\n{{range $l}}{{range $l}}{{range $l}}{{end}}{{end}}{{end}}",
		// one loop whose every step allocates (each call well within the limit,
		// so the loop, not the call, is what runs long)
		"allocating": "\n{{range splitList \",\" (printf \"%9999s\" \"\" | replace \" \" \",\")}}{{$s := printf \"%100000s\" \"\"}}{{end}}",
		// templates calling each other, twice each
		"calls": "\n{{define \"a\"}}{{template \"b\" .}}{{template \"b\" .}}{{end}}" +
			"{{define \"b\"}}{{template \"a\" .}}{{template \"a\" .}}{{end}}{{template \"a\" .}}",
	}
	for name, body := range bodies {
		before := runtime.NumGoroutine()
		c, err := New(Spec{From: Source{File: "campaign.toml", Text: "a@example.com"}, To: Source{File: "campaign.toml", Text: "b@example.com"},
			Text: Source{File: "body.txt", Line: 1, Text: body}, Timeout: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Compose(1, map[string]string{})
		want := "body.txt:2: rendering took longer than the limit of 50ms"
		var te *TemplateError
		if !errors.As(err, &te) || err.Error() != want || te.Help == "" {
			t.Errorf("%s: %v, want %s with a hint", name, err, want)
		}
		if !settles(before) {
			t.Errorf("%s: %d goroutines after the row, %d before", name, runtime.NumGoroutine(), before)
		}
	}
}

// settles waits for the goroutine count to come back to n; a goroutine
// that stopped at its deadline needs only to return.
func settles(n int) bool {
	for range 500 {
		if runtime.NumGoroutine() <= n {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// BenchmarkTemplateFunctions is the cost of the checks around each call
// of a template function.
func BenchmarkTemplateFunctions(b *testing.B) {
	tm, err := parseTemplate(Source{File: "body.txt", Line: 1,
		Text: `{{upper .name}} {{trunc 3 .name}} {{default "x" .name}} {{printf "%-8s|" .name}} {{join ", " (splitList ";" .items)}}`}, false)
	if err != nil {
		b.Fatal(err)
	}
	x := newExecutor([]*tmpl{tm})
	fields := map[string]string{"name": "Alice", "items": "tea;cake;jam"}
	b.ReportAllocs()
	for b.Loop() {
		x.buf.start(DefaultMaxSize, DefaultTimeout)
		if _, err := x.run(tm, fields); err != nil {
			b.Fatal(err)
		}
	}
}

// A row whose one function call runs past the time limit and its grace
// fails on time, naming the template file and the line of that call, or
// the campaign key of a header template, not the campaign file.
func TestLongCallNamesItsTemplateLine(t *testing.T) {
	release := make(chan struct{})
	// stall stands for a call that takes long on a row's data (a regex on
	// megabytes of text): it returns when the test lets it.
	stall := func(s string) string { <-release; return s }
	stallTwice := func(n int, s string) string { <-release; return strings.Repeat(s, n) } // not a shape guard calls without reflection
	templateFuncs["stall"], parseFuncs["stall"] = stall, stall
	templateFuncs["stallTwice"], parseFuncs["stallTwice"] = stallTwice, stallTwice
	t.Cleanup(func() {
		for _, name := range []string{"stall", "stallTwice"} {
			delete(templateFuncs, name)
			delete(parseFuncs, name)
		}
	})

	nested := "{{range $i := list 1 2}}{{range $j := list 1 2}}{{end}}{{end}}" // rendered on its own goroutine
	for _, tc := range []struct {
		spec Spec
		want string
	}{
		{Spec{Text: Source{File: "body.txt", Line: 1, Text: "Hi\n{{.name}}\n"},
			HTML: Source{File: "body.html", Line: 1, Text: "<p>Hi</p>\n" + nested + "\n<p>{{.name | stall}}</p>\n"}},
			"body.html:3: stall took longer than the limit of 50ms"},
		{Spec{Subject: Source{File: "campaign.toml", Key: "subject", Line: 5, Text: "Hello {{stallTwice 2 .name}}"},
			Text: Source{File: "body.txt", Line: 1, Text: nested + "\n{{.name}}"}},
			"campaign.toml:5: subject: stallTwice took longer than the limit of 50ms"},
	} {
		before := runtime.NumGoroutine()
		tc.spec.From = Source{File: "campaign.toml", Line: 2, Text: "a@example.com"}
		tc.spec.To = Source{File: "campaign.toml", Line: 3, Text: "b@example.com"}
		tc.spec.Timeout = 50 * time.Millisecond
		c, err := New(tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Compose(1, map[string]string{"name": "Ann"})
		var te *TemplateError
		if !errors.As(err, &te) || err.Error() != tc.want || !strings.Contains(te.Help, "stall") {
			t.Errorf("%v, want %s with a hint naming the call", err, tc.want)
		}
		release <- struct{}{} // the stuck call ends; its goroutine must go
		if !settles(before) {
			t.Errorf("%d goroutines after the row, %d before", runtime.NumGoroutine(), before)
		}
	}
}

// TestOneLongCallFailsTheRow: a template with no loop renders on the
// caller's goroutine, with no step to look at the clock but the calls; one
// call that ran past the time limit still fails the row, naming the call
// and its line, instead of the row counting as valid.
func TestOneLongCallFailsTheRow(t *testing.T) {
	slow := func(s string) string { time.Sleep(80 * time.Millisecond); return s }
	slowJoin := func(n int, s string) string { time.Sleep(80 * time.Millisecond); return strings.Repeat(s, n) }
	templateFuncs["slow"], parseFuncs["slow"] = slow, slow
	templateFuncs["slowJoin"], parseFuncs["slowJoin"] = slowJoin, slowJoin
	t.Cleanup(func() {
		for _, name := range []string{"slow", "slowJoin"} {
			delete(templateFuncs, name)
			delete(parseFuncs, name)
		}
	})
	for _, tc := range []struct{ text, want string }{
		{"Hi\n{{.name | slow}}\n", "body.txt:2: slow took longer than the limit of 50ms"},
		{"Hi\n\n{{slowJoin 2 .name}}\n", "body.txt:3: slowJoin took longer than the limit of 50ms"},
	} {
		c, err := New(Spec{From: Source{File: "campaign.toml", Line: 2, Text: "a@example.com"},
			To:      Source{File: "campaign.toml", Line: 3, Text: "b@example.com"},
			Text:    Source{File: "body.txt", Line: 1, Text: tc.text},
			Timeout: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if _, err = c.Compose(1, map[string]string{"name": "Ann"}); err == nil || err.Error() != tc.want {
			t.Errorf("%q: %v, want %s", tc.text, err, tc.want)
		}
	}
}
