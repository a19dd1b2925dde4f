package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const (
	readmeBegin = "<!-- config:begin -->"
	readmeEnd   = "<!-- config:end -->"
)

var readmeRowName = regexp.MustCompile("^\\|\\s*`?([A-Z][A-Z0-9_]*)`?\\s*\\|")

// TestReadmeListsExactlySettings checks that the README's configuration
// table (between the config:begin and config:end markers) names every
// setting exactly once and nothing else. `go run`-free regeneration:
// MarkdownTable renders the table to paste.
func TestReadmeListsExactlySettings(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	begin, end := strings.Index(text, readmeBegin), strings.Index(text, readmeEnd)
	if begin < 0 || end < begin {
		t.Fatalf("README.md must contain %s before %s", readmeBegin, readmeEnd)
	}
	got := strings.TrimSpace(text[begin+len(readmeBegin) : end])
	if want := strings.TrimSpace(MarkdownTable()); got != want {
		t.Errorf("README.md's configuration table is not the one the code defines; replace the section between the markers with:\n%s", want)
	}
	// Belt and braces: each setting is named exactly once.
	counts := map[string]int{}
	for _, line := range strings.Split(got, "\n") {
		if m := readmeRowName.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			counts[m[1]]++
		}
	}
	for _, s := range Settings {
		if counts[s.Name] != 1 {
			t.Errorf("README lists %s %d times, want once", s.Name, counts[s.Name])
		}
	}
}
