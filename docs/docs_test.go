// Package docs holds the documentation beyond the README; its test keeps
// the README a front door (at most 12 kB) and every relative link of the
// README and of docs/ pointing at a file and a heading that exist.
package docs_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// readmeLimit is the README's budget: what it is, the two commands, the
// first steps, and where everything else lives.
const readmeLimit = 12 << 10

func TestReadmeIsAFrontDoor(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) > readmeLimit {
		t.Errorf("README.md is %d bytes, over its %d: move reference material into docs/ and link to it", len(raw), readmeLimit)
	}
	for _, want := range []string{"go run ./cmd/timecamp-scim serve", "go test ./...", "docs/entra-id.md", "docs/okta.md", "docs/configuration.md"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("README.md does not mention %s", want)
		}
	}
}

var (
	link    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	heading = regexp.MustCompile(`(?m)^#{1,6} (.+)$`)
	fence   = regexp.MustCompile("(?ms)^```.*?^```")
)

// anchor is the fragment GitHub gives a heading.
func anchor(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	var b strings.Builder
	for _, r := range h {
		switch {
		case r == ' ' || r == '-':
			b.WriteRune('-')
		case r == '_' || ('a' <= r && r <= 'z') || ('0' <= r && r <= '9') || r > 127:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Every relative link of the README and docs/*.md reaches a file, and a
// heading of it when it names one.
func TestLinksResolve(t *testing.T) {
	files, _ := filepath.Glob("*.md")
	files = append(files, "../README.md")
	anchors := map[string]map[string]bool{}
	anchorsOf := func(path string) map[string]bool {
		if a, ok := anchors[path]; ok {
			return a
		}
		raw, err := os.ReadFile(path)
		a := map[string]bool{}
		if err == nil {
			for _, m := range heading.FindAllStringSubmatch(fence.ReplaceAllString(string(raw), ""), -1) {
				a[anchor(m[1])] = true
			}
		}
		anchors[path] = a
		return a
	}
	checked := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(fence.ReplaceAllString(string(raw), ""), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			path, frag, _ := strings.Cut(target, "#")
			if path == "" {
				path = f
			} else {
				path = filepath.Join(filepath.Dir(f), path)
			}
			checked++
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s links to %s, which does not exist", f, target)
				continue
			}
			if frag != "" && strings.HasSuffix(path, ".md") && !anchorsOf(path)[frag] {
				t.Errorf("%s links to %s, but %s has no heading #%s", f, target, path, frag)
			}
		}
	}
	if checked < 40 {
		t.Fatalf("only %d relative links found: is the pattern broken?", checked)
	}
}
