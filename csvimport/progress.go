package csvimport

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// progressMinimum is the smallest file (in user lines) that gets a
// progress bar: smaller ones are done before a bar would help.
const progressMinimum = 500

// progressBar draws one line on a terminal, redrawn in place. Every method
// does nothing on a nil bar.
type progressBar struct {
	w           io.Writer
	label       string
	total, done int
	drawn       int // length of the line on screen
}

const barWidth = 30

// status shows a message in place of the bar.
func (b *progressBar) status(msg string) {
	if b == nil {
		return
	}
	b.draw(msg)
}

// start begins a bar counting to total.
func (b *progressBar) start(label string, total int) {
	if b == nil {
		return
	}
	b.label, b.total, b.done = label, total, 0
	b.render()
}

// add advances the bar.
func (b *progressBar) add(n int) {
	if b == nil {
		return
	}
	b.done = min(b.done+n, b.total)
	b.render()
}

// clear removes the bar's line.
func (b *progressBar) clear() {
	if b == nil || b.drawn == 0 {
		return
	}
	fmt.Fprint(b.w, "\r"+strings.Repeat(" ", b.drawn)+"\r")
	b.drawn = 0
}

func (b *progressBar) render() {
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

func (b *progressBar) draw(line string) {
	n := utf8.RuneCountInString(line)
	pad := ""
	if n < b.drawn {
		pad = strings.Repeat(" ", b.drawn-n)
	}
	fmt.Fprint(b.w, "\r"+line+pad)
	b.drawn = n
}
