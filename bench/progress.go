package bench

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progress reports cells as they finish: a bar redrawn in place on a
// terminal, one plain line per cell elsewhere (SLURM logs, pipes).
type progress struct {
	w        io.Writer
	terminal bool
	total    int
	done     int
	start    time.Time
}

func newProgress(w io.Writer, terminal bool, total int) *progress {
	return &progress{w: w, terminal: terminal, total: total, start: time.Now()}
}

func (p *progress) cell(c Cell, what string) {
	p.done++
	if p.w == nil {
		return
	}
	el := time.Since(p.start).Round(time.Second)
	if !p.terminal {
		fmt.Fprintf(p.w, "[%d/%d %s] %s: %s\n", p.done, p.total, el, c.Name(), what)
		return
	}
	const width = 30
	fill := width * p.done / max(p.total, 1)
	eta := ""
	if p.done > 0 && p.done < p.total {
		eta = " eta " + (time.Since(p.start) / time.Duration(p.done) * time.Duration(p.total-p.done)).Round(time.Second).String()
	}
	line := fmt.Sprintf("[%s%s] %d/%d %s%s  %s: %s", strings.Repeat("#", fill), strings.Repeat(".", width-fill),
		p.done, p.total, el, eta, c.Name(), what)
	if len(line) > 120 {
		line = line[:117] + "..."
	}
	fmt.Fprintf(p.w, "\r\033[K%s", line)
}

func (p *progress) finish() {
	if p.w != nil && p.terminal {
		fmt.Fprintln(p.w)
	}
}
