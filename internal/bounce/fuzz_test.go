package bounce

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzClassify: whatever arrives in the mailbox, Classify returns; every
// recipient it reports has an address and a status of the kind it names.
func FuzzClassify(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.eml")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := Classify(raw)
		if err != nil {
			return
		}
		for _, rc := range r.Recipients {
			if rc.Address == "" {
				t.Errorf("a recipient without an address: %+v", rc)
			}
			if rc.Kind == Hard && (len(rc.Status) < 5 || rc.Status[0] != '5') {
				t.Errorf("hard with status %q", rc.Status)
			}
		}
	})
}
