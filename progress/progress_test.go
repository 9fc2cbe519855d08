package progress

import (
	"bytes"
	"strings"
	"testing"
)

func TestProgressBar(t *testing.T) {
	var w bytes.Buffer
	b := New(&w)
	b.Status("Checking 5000 addresses…")
	b.Start("Creating users", 5000)
	b.Add(1000)
	b.Add(4000)
	b.Clear()
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
	var none *Bar
	none.Start("x", 1)
	none.Add(1)
	none.Clear()
}
