package throttle

import (
	"testing"
	"time"
)

func TestSpecDuration(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		rate string
		n    int
		want time.Duration
	}{
		{"", 1000, 0},
		{"10/s", 0, 0},
		{"10/s", 1, 0},
		{"10/s", 11, time.Second},
		{"20/m", 61, 3 * time.Minute},
		// The slower of two paces sets the time.
		{"10/s, 60/m", 61, time.Minute},
		// Under the cap: only the pace counts.
		{"20/m, 500/d", 500, 499 * 3 * time.Second},
		// 1200 under 500/d: two whole days, then 200 paced at 20/m.
		{"20/m, 500/d", 1200, 2*day + 199*3*time.Second},
		// A cap alone lets a window's worth through at once.
		{"1000/h", 2500, 2 * time.Hour},
		{"1000/h", 1000, 0},
	}
	for _, tt := range tests {
		spec, err := Parse(tt.rate)
		if err != nil {
			t.Fatal(err)
		}
		if got := spec.Duration(tt.n); got != tt.want {
			t.Errorf("Parse(%q).Duration(%d) = %v, want %v", tt.rate, tt.n, got, tt.want)
		}
	}
}
