package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/mailmerge/mailmerge/internal/sandbox"
)

// TestMain lets the test binary act as the mailmerge command inside the
// scripts, so each scenario runs the real program as its own process.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"mailmerge": func() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

var update = flag.Bool("update", false, "rewrite the cmp files in testdata/*.txtar with the actual output")

// TestScripts runs every scenario in testdata/*.txtar. $REPO is the
// repository root, for the samples and templates.
func TestScripts(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir:           "testdata",
		UpdateScripts: *update,
		Setup: func(env *testscript.Env) error {
			env.Setenv("REPO", repo)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits":     cmdExits,
			"gbk":       cmdGBK,
			"bigfile":   cmdBigfile,
			"entries":   cmdEntries,
			"emlcheck":  cmdEmlcheck,
			"envelopes": cmdEnvelopes,
			"headers":   cmdHeaders,
		},
	})
}

// exits N COMMAND ARGS... runs a command and asserts its exact exit status;
// stdout and stderr are kept for the assertions that follow.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits STATUS COMMAND [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("%v", err)
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}

// gbk SRC DST writes the UTF-8 file SRC as GBK, as Excel on a Chinese
// Windows saves a CSV.
func cmdGBK(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: gbk SRC DST")
	}
	b, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(ts.ReadFile(args[0])))
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), b, 0o644))
}

// bigfile PATH N writes N bytes of incompressible-looking data.
func cmdBigfile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: bigfile PATH BYTES")
	}
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), b, 0o644))
}

// entries DIR NAME... asserts that DIR holds exactly the named entries
// (hidden ones included, so a leftover temporary folder shows).
func cmdEntries(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: entries DIR [NAME...]")
	}
	des, err := os.ReadDir(ts.MkAbs(args[0]))
	ts.Check(err)
	var got []string
	for _, de := range des {
		got = append(got, de.Name())
	}
	want := slices.Clone(args[1:])
	slices.Sort(want)
	if !slices.Equal(got, want) {
		ts.Fatalf("%s holds %q, want %q", args[0], got, want)
	}
}

// envelopes DIR prints, for each message in the sandbox Maildir DIR in
// delivery order, the envelope the server received and the To header:
// "FROM -> TO | To: HEADER".
func cmdEnvelopes(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: envelopes DIR")
	}
	stored, err := sandbox.ReadMaildir(ts.MkAbs(args[0]))
	ts.Check(err)
	for _, s := range stored {
		fmt.Fprintf(ts.Stdout(), "%s -> %s | To: %s\n", s.ReturnPath, s.DeliveredTo, s.Header.Get("To"))
	}
}

// headers DIR NAME... prints, for each message in the sandbox Maildir DIR
// in delivery order, the named header fields, decoded, one line each:
// "NAME: VALUE", or "NAME absent" when the message has none.
func cmdHeaders(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: headers DIR NAME...")
	}
	stored, err := sandbox.ReadMaildir(ts.MkAbs(args[0]))
	ts.Check(err)
	dec := new(mime.WordDecoder)
	for _, s := range stored {
		for _, name := range args[1:] {
			vs, ok := s.Header[textproto.CanonicalMIMEHeaderKey(name)]
			if !ok {
				fmt.Fprintf(ts.Stdout(), "%s absent\n", name)
			}
			for _, v := range vs {
				d, err := dec.DecodeHeader(v)
				ts.Check(err)
				fmt.Fprintf(ts.Stdout(), "%s: %s\n", name, d)
			}
		}
	}
}

// emlcheck DIR parses every .eml file in DIR with net/mail and
// mime/multipart, fails on a line that does not end in CRLF or passes 998
// octets, and prints the decoded headers and the MIME tree for cmp.
func cmdEmlcheck(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: emlcheck DIR")
	}
	files, err := filepath.Glob(filepath.Join(ts.MkAbs(args[0]), "*.eml"))
	ts.Check(err)
	if len(files) == 0 {
		ts.Fatalf("no .eml files in %s", args[0])
	}
	var out strings.Builder
	for _, f := range files {
		b, err := os.ReadFile(f)
		ts.Check(err)
		if err := checkLines(b); err != nil {
			ts.Fatalf("%s: %v", filepath.Base(f), err)
		}
		if err := describeMessage(&out, filepath.Base(f), b); err != nil {
			ts.Fatalf("%s: %v", filepath.Base(f), err)
		}
	}
	fmt.Fprint(ts.Stdout(), out.String())
}

// checkLines enforces RFC 5322 2.1.1 and 2.3: CRLF line ends, no bare CR or
// LF, at most 998 octets a line.
func checkLines(b []byte) error {
	for i, line := range bytes.SplitAfter(b, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if !bytes.HasSuffix(line, []byte("\r\n")) {
			return fmt.Errorf("line %d does not end in CRLF: %q", i+1, line)
		}
		body := line[:len(line)-2]
		if bytes.ContainsAny(body, "\r\n") {
			return fmt.Errorf("line %d holds a bare CR: %q", i+1, line)
		}
		if len(body) > 998 {
			return fmt.Errorf("line %d is %d octets long", i+1, len(body))
		}
	}
	return nil
}

var wordDecoder = &mime.WordDecoder{}

func describeMessage(w io.Writer, name string, b []byte) error {
	msg, err := mail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		return err
	}
	fmt.Fprintln(w, name)
	for _, h := range []string{"From", "To", "Cc", "Reply-To", "Subject"} {
		if v := msg.Header.Get(h); v != "" {
			d, err := wordDecoder.DecodeHeader(v)
			if err != nil {
				return fmt.Errorf("%s: %w", h, err)
			}
			fmt.Fprintf(w, "  %s: %s\n", h, d)
		}
	}
	var names []string
	for k := range msg.Header {
		names = append(names, k)
	}
	slices.Sort(names)
	fmt.Fprintf(w, "  headers: %s\n", strings.Join(names, " "))
	return describePart(w, "  ", msg.Header.Get("Content-Type"), msg.Header.Get("Content-Disposition"), msg.Body)
}

func describePart(w io.Writer, indent, ctype, disp string, body io.Reader) error {
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		return fmt.Errorf("content type %q: %w", ctype, err)
	}
	line := indent + mt
	if disp != "" {
		if _, dp, err := mime.ParseMediaType(disp); err == nil && dp["filename"] != "" {
			line += " " + dp["filename"]
		}
	}
	fmt.Fprintln(w, line)
	if !strings.HasPrefix(mt, "multipart/") {
		_, err := io.Copy(io.Discard, body)
		return err
	}
	mr := multipart.NewReader(body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := describePart(w, indent+"  ", p.Header.Get("Content-Type"), p.Header.Get("Content-Disposition"), p); err != nil {
			return err
		}
	}
}
