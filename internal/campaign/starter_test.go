package campaign

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mailmerge/mailmerge/internal/starter"
)

// starterCampaign is the campaign file mailmerge init writes.
func starterCampaign(t *testing.T) string {
	t.Helper()
	files, err := starter.Files(false)
	if err != nil {
		t.Fatal(err)
	}
	if files[0].Name != starter.CampaignFile {
		t.Fatalf("starter's first file is %s, want %s", files[0].Name, starter.CampaignFile)
	}
	return string(files[0].Data)
}

// TestStarterNamesEveryKey: the campaign init writes mentions every key a
// campaign may set, used or commented out, so that a new key cannot be
// forgotten there.
func TestStarterNamesEveryKey(t *testing.T) {
	text := starterCampaign(t)
	for _, k := range knownKeys {
		re := regexp.MustCompile(`(?m)^(# ?)?` + k + ` *=|^\[` + k + `\]|^(# ?)?\[\[` + k + `\]\]`)
		if !re.MatchString(text) {
			t.Errorf("the starter campaign does not mention %q", k)
		}
	}
}

// TestStarterCommentedKeysAreKeys: with every commented-out key turned
// on, the starter campaign still reads: none of them is misspelt or
// unknown, and each example value has the right type.
func TestStarterCommentedKeysAreKeys(t *testing.T) {
	commented := regexp.MustCompile(`(?m)^# ?([A-Za-z_-]+ *=|\[\[[a-z]+\]\])`)
	text := starterCampaign(t)
	on := commented.ReplaceAllString(text, "$1")
	if on == text {
		t.Fatal("the starter campaign has no commented-out key")
	}
	path := filepath.Join(t.TempDir(), starter.CampaignFile)
	if err := os.WriteFile(path, []byte(on), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readConfig(path); err != nil {
		lines := strings.Split(on, "\n")
		t.Fatalf("with its keys turned on, the starter campaign does not read: %v\n%s", err, lines[min(max(lineOf(err)-1, 0), len(lines)-1)])
	}
}

func lineOf(err error) int {
	var ce *ConfigError
	if errors.As(err, &ce) {
		return ce.Line
	}
	return 0
}
