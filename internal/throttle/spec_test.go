package throttle

import (
	"reflect"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		in   string
		want Spec
		str  string // Spec.String of the result
	}{
		{"", nil, "unlimited"},
		{"  ", nil, "unlimited"},
		{"0", nil, "unlimited"},
		{"unlimited", nil, "unlimited"},
		{"Unlimited", nil, "unlimited"},
		{"10/s", Spec{{10, time.Second}}, "10/s"},
		{"600/m", Spec{{600, time.Minute}}, "600/m"},
		{"5000/h", Spec{{5000, time.Hour}}, "5000/h"},
		{"100/d", Spec{{100, day}}, "100/d"},
		{"10/sec", Spec{{10, time.Second}}, "10/s"},
		{"600/min", Spec{{600, time.Minute}}, "600/m"},
		{"5000/hour", Spec{{5000, time.Hour}}, "5000/h"},
		{"100/days", Spec{{100, day}}, "100/d"},
		{"10/S", Spec{{10, time.Second}}, "10/s"},
		{" 10 / s ", Spec{{10, time.Second}}, "10/s"},
		{"1/2s", Spec{{1, 2 * time.Second}}, "1/2s"},
		{"100/5min", Spec{{100, 5 * time.Minute}}, "100/5m"},
		{"1/60s", Spec{{1, time.Minute}}, "1/m"},
		{"1/90s", Spec{{1, 90 * time.Second}}, "1/90s"},
		{"20/s, 1000/h", Spec{{20, time.Second}, {1000, time.Hour}}, "20/s, 1000/h"},
		{"20/s,1000/h,5000/d", Spec{{20, time.Second}, {1000, time.Hour}, {5000, day}}, "20/s, 1000/h, 5000/d"},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
		if s := got.String(); s != tt.str {
			t.Errorf("Parse(%q).String() = %q, want %q", tt.in, s, tt.str)
		}
		// What String writes, Parse reads back the same.
		again, err := Parse(got.String())
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Errorf("Parse(%q) = %v, %v; want %v", got.String(), again, err, got)
		}
	}
}

func TestParseErrors(t *testing.T) {
	const hint = ` (use /s, /m, /h or /d, e.g. "10/s, 1000/h")`
	tests := []struct {
		in, want string
	}{
		{"20/x", `rate "20/x": unknown unit "x"` + hint},
		{"20/s, 5/x", `rate "20/s, 5/x": unknown unit "x" in "5/x"` + hint},
		{"20/week", `rate "20/week": unknown unit "week"` + hint},
		{"20", `rate "20": no time unit after "20"` + hint},
		{"20/", `rate "20/": no time unit after "20"` + hint},
		{"/s", `rate "/s": count "" is not a whole number` + hint},
		{"1.5/s", `rate "1.5/s": count "1.5" is not a whole number` + hint},
		{"ten/s", `rate "ten/s": count "ten" is not a whole number` + hint},
		{"0/s", `rate "0/s": count "0" must be at least 1` + hint},
		{"-5/s", `rate "-5/s": count "-5" must be at least 1` + hint},
		{"1/0s", `rate "1/0s": period "0s" is zero` + hint},
		{"1/2", `rate "1/2": unknown unit ""` + hint},
		{"10/s/m", `rate "10/s/m": unknown unit "s/m"` + hint},
		{"1/999999999d", `rate "1/999999999d": period "999999999d" is too long` + hint},
		{"1/99999999999999999999s", `rate "1/99999999999999999999s": period "99999999999999999999s" is too long` + hint},
		{"10/s,", `rate "10/s,": empty term` + hint},
		{"10/s,,5/m", `rate "10/s,,5/m": empty term` + hint},
		{"10/s; 5/m", `rate "10/s; 5/m": unknown unit "s; 5/m"` + hint},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err == nil {
			t.Errorf("Parse(%q) = %v, want error %s", tt.in, got, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("Parse(%q) error:\n got %s\nwant %s", tt.in, err, tt.want)
		}
	}
}
