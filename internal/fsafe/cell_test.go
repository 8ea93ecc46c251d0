package fsafe

import "testing"

func TestEscapeCellRoundTrips(t *testing.T) {
	for in, want := range map[string]string{
		"=cmd|' /C calc'!A0": "'=cmd|' /C calc'!A0",
		"=1+1":               "'=1+1",
		"@SUM(1+1)":          "'@SUM(1+1)",
		"+33 1 23":           "'+33 1 23",
		"-2+3":               "'-2+3",
		"\t=1+1":             "'\t=1+1",
		"\r=1+1":             "'\r=1+1",
		"'kept":              "''kept",
		"ana@example.com":    "ana@example.com",
		"250 2.0.0 Ok":       "250 2.0.0 Ok",
		" =1+1":              " =1+1",
		"":                   "",
	} {
		got := EscapeCell(in)
		if got != want {
			t.Errorf("EscapeCell(%q) = %q, want %q", in, got, want)
		}
		if back := UnescapeCell(got); back != in {
			t.Errorf("UnescapeCell(%q) = %q, want %q", got, back, in)
		}
	}
}
