package throttle_test

import (
	"context"
	"fmt"
	"time"

	"github.com/mailmerge/mailmerge/internal/throttle"
)

func ExampleParse() {
	spec, err := throttle.Parse("20/s, 1000/hour")
	fmt.Println(spec, err)
	_, err = throttle.Parse("20/x")
	fmt.Println(err)
	// Output:
	// 20/s, 1000/h <nil>
	// rate "20/x": unknown unit "x" (use /s, /m, /h or /d, e.g. "10/s, 1000/h")
}

func ExampleLimiter_SlowDown() {
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	spec, _ := throttle.Parse("10/s")
	l := throttle.New(spec, throttle.Options{Now: func() time.Time { return now }})

	l.SlowDown() // the server replied 421 "too many messages, slow down"
	fmt.Println(l)
	now = now.Add(time.Minute) // a cool-down without complaints
	fmt.Println(l)
	// Output:
	// 10/s (slowed to 5/s)
	// 10/s
}

func ExampleLimiter_Wait() {
	spec, _ := throttle.Parse("100/s")
	l := throttle.New(spec, throttle.Options{})
	ctx := context.Background()
	for _, to := range []string{"ann@example.com", "bo@example.com"} {
		if err := l.Wait(ctx); err != nil {
			return // the run was cancelled
		}
		fmt.Println("send to", to)
	}
	// Output:
	// send to ann@example.com
	// send to bo@example.com
}
