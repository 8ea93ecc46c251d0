package main

import (
	"runtime/debug"
	"strings"
	"testing"
)

// The revision is what a bug report needs; --version must show it, say
// when the tree had uncommitted changes, and say when it is not known.
func TestVersionText(t *testing.T) {
	build := func(settings ...string) *debug.BuildInfo {
		info := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/mailmerge/mailmerge", Version: "v0.2.0"}}
		for i := 0; i+1 < len(settings); i += 2 {
			info.Settings = append(info.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return info
	}
	for _, tc := range []struct {
		name string
		info *debug.BuildInfo
		ok   bool
		want []string
	}{
		{"clean", build("vcs.revision", "b71feae0", "vcs.modified", "false", "vcs.time", "2026-12-01T20:00:00Z"), true,
			[]string{"mailmerge 1.2.3\n", "module: github.com/mailmerge/mailmerge v0.2.0\n", "revision: b71feae0\n", "commit time: 2026-12-01T20:00:00Z\n", "go: go1.26.8\n"}},
		{"modified", build("vcs.revision", "b71feae0", "vcs.modified", "true"), true,
			[]string{"revision: b71feae0 with uncommitted changes\n"}},
		{"no vcs", build(), true, []string{"revision: unknown (built without VCS information)\n"}},
		{"no build info", nil, false, []string{"mailmerge 1.2.3\n", "build information: not recorded"}},
	} {
		got := versionText("1.2.3", tc.info, tc.ok)
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: --version printed\n%s\nwant it to contain %q", tc.name, got, w)
			}
		}
	}
}
