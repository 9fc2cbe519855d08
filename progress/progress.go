// Package progress draws a progress bar on a terminal, for the commands
// that take a while (the CSV import, copying a store).
package progress

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Bar draws one line on a terminal, redrawn in place. Every method does
// nothing on a nil bar.
type Bar struct {
	w           io.Writer
	label       string
	total, done int
	drawn       int // length of the line on screen
}

const barWidth = 30

// New returns a bar drawing on w.
func New(w io.Writer) *Bar { return &Bar{w: w} }

// Status shows a message in place of the bar.
func (b *Bar) Status(msg string) {
	if b == nil {
		return
	}
	b.draw(msg)
}

// Start begins a bar counting to total.
func (b *Bar) Start(label string, total int) {
	if b == nil {
		return
	}
	b.label, b.total, b.done = label, total, 0
	b.render()
}

// Add advances the bar.
func (b *Bar) Add(n int) {
	if b == nil {
		return
	}
	b.done = min(b.done+n, b.total)
	b.render()
}

// Clear removes the bar's line.
func (b *Bar) Clear() {
	if b == nil || b.drawn == 0 {
		return
	}
	fmt.Fprint(b.w, "\r"+strings.Repeat(" ", b.drawn)+"\r")
	b.drawn = 0
}

func (b *Bar) render() {
	filled := 0
	if b.total > 0 {
		filled = barWidth * b.done / b.total
	}
	pct := 100
	if b.total > 0 {
		pct = 100 * b.done / b.total
	}
	b.draw(fmt.Sprintf("%-22s [%s%s] %d/%d %3d%%", b.label, strings.Repeat("#", filled), strings.Repeat(" ", barWidth-filled), b.done, b.total, pct))
}

func (b *Bar) draw(line string) {
	n := utf8.RuneCountInString(line)
	pad := ""
	if n < b.drawn {
		pad = strings.Repeat(" ", b.drawn-n)
	}
	fmt.Fprint(b.w, "\r"+line+pad)
	b.drawn = n
}
