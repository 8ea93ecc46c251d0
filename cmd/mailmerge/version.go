package main

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// versionText is what --version prints: the release string set by
// -ldflags, then what the build recorded about the module and the commit.
// Builds with -buildvcs=false (CI, tests) record no commit; that is said
// rather than left out, so a bug report shows which kind of build it was.
func versionText(release string, info *debug.BuildInfo, ok bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "mailmerge %s\n", release)
	if !ok {
		b.WriteString("build information: not recorded in this binary\n")
		return b.String()
	}
	fmt.Fprintf(&b, "module: %s %s\n", info.Main.Path, info.Main.Version)
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	switch rev := settings["vcs.revision"]; {
	case rev == "":
		b.WriteString("revision: unknown (built without VCS information)\n")
	case settings["vcs.modified"] == "true":
		fmt.Fprintf(&b, "revision: %s with uncommitted changes\n", rev)
	default:
		fmt.Fprintf(&b, "revision: %s\n", rev)
	}
	if t := settings["vcs.time"]; t != "" {
		fmt.Fprintf(&b, "commit time: %s\n", t)
	}
	fmt.Fprintf(&b, "go: %s\n", info.GoVersion)
	return b.String()
}
