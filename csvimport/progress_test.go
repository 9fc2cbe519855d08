package csvimport

import (
	"bytes"
	"strings"
	"testing"
)

func TestProgressBar(t *testing.T) {
	var w bytes.Buffer
	b := &progressBar{w: &w}
	b.status("Checking 5000 addresses…")
	b.start("Creating users", 5000)
	b.add(1000)
	b.add(4000)
	b.clear()
	frames := strings.Split(w.String(), "\r")[1:]
	want := []string{
		"Checking 5000 addresses…",
		"Creating users         [                              ] 0/5000   0%",
		"Creating users         [######                        ] 1000/5000  20%",
		"Creating users         [##############################] 5000/5000 100%",
	}
	for i, f := range want {
		if strings.TrimRight(frames[i], " ") != f {
			t.Errorf("frame %d: %q, want %q", i, frames[i], f)
		}
	}
	if last := frames[len(frames)-1]; last != "" || strings.TrimSpace(frames[len(frames)-2]) != "" {
		t.Errorf("the bar is not cleared: %q", w.String())
	}
	// A nil bar (no terminal, or a small file) draws nothing.
	var none *progressBar
	none.start("x", 1)
	none.add(1)
	none.clear()
}
