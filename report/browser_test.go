package report

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"dllmbench/bench"
)

// chromium finds Debian's chromium: on PATH, else where the package puts it.
func chromium() string {
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	return ""
}

// pageState is what the browser test reads from the rendered page.
type pageState struct {
	ViewportW   float64   `json:"vw"`
	ScrollW     float64   `json:"scrollW"`
	Figures     []figRect `json:"figures"`
	MainRows    int       `json:"mainRows"`
	FailedRows  int       `json:"failedRows"`
	MainCols    int       `json:"mainCols"`
	QualityRows int       `json:"qualityRows"`
	FirstModel  string    `json:"firstModel"`
	FailedText  string    `json:"failedText"`
	Pareto      []string  `json:"pareto"`
	Scripts     int       `json:"scripts"`
	Resources   int       `json:"resources"`
}

type figRect struct {
	ID    string  `json:"id"`
	W     float64 `json:"w"`
	H     float64 `json:"h"`
	Left  float64 `json:"left"`
	Right float64 `json:"right"`
	Texts int     `json:"texts"`
}

// pageProbe measures the page as laid out: each figure's <svg> box, the
// table rows, what was loaded.
const pageProbe = `(() => {
  const rows = sel => document.querySelectorAll(sel).length;
  const figures = [...document.querySelectorAll('figure')].map(f => {
    const s = f.querySelector('svg');
    if (!s) return {id: f.id, w: 0, h: 0, left: 0, right: 0, texts: 0};
    const r = s.getBoundingClientRect();
    return {id: f.id, w: r.width, h: r.height, left: r.left, right: r.right, texts: s.querySelectorAll('text').length};
  });
  const failed = document.querySelector('#main-table tbody tr.failed');
  return {
    vw: document.documentElement.clientWidth,
    scrollW: document.documentElement.scrollWidth,
    figures,
    mainRows: rows('#main-table tbody tr'),
    failedRows: rows('#main-table tbody tr.failed'),
    mainCols: rows('#main-table thead th'),
    qualityRows: rows('#quality-table tbody tr'),
    firstModel: document.querySelector('#main-table tbody tr td').textContent,
    failedText: failed ? failed.textContent : '',
    pareto: [...document.querySelectorAll('#pareto li')].map(li => li.textContent),
    scripts: document.scripts.length,
    resources: performance.getEntriesByType('resource').length,
  };
})()`

// TestBrowser renders the study's report.html in headless Chromium, at a
// desktop and a phone width, and checks what a reader would see: no console
// error or exception, nothing loaded but the page, every figure drawn with a
// size and inside the viewport, no horizontal scrolling of the page (wide
// tables scroll in their own box), and the tables' rows.
func TestBrowser(t *testing.T) {
	exe := chromium()
	if exe == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed (not on PATH, no /usr/bin/chromium): install chromium: make test does it")
		}
		t.Skip("chromium is not installed (not on PATH, no /usr/bin/chromium); scripts/test/chromium.sh installs Debian's package")
	}
	dir := copyStudy(t)
	recs, err := bench.ReadRecords(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(dir, recs); err != nil {
		t.Fatal(err)
	}
	qm, err := ReadQuality(dir)
	if err != nil {
		t.Fatal(err)
	}
	var wantFigs []string
	for _, f := range MakeFigures(recs, qm).Drawn {
		wantFigs = append(wantFigs, "fig-"+f.Name)
	}
	page := (&url.URL{Scheme: "file", Path: filepath.Join(dir, "report.html")}).String()

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancelCtx := chromedp.NewContext(actx)
	defer cancelCtx()
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	var mu sync.Mutex
	var problems, requests []string
	err = chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range e.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				problems = append(problems, fmt.Sprintf("console.%s: %s", e.Type, strings.Join(args, " ")))
			}
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			problems = append(problems, fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber, msg))
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.EntryLevelError {
				problems = append(problems, fmt.Sprintf("log (%s): %s %s", e.Entry.Source, e.Entry.Text, e.Entry.URL))
			}
		case *network.EventRequestWillBeSent:
			requests = append(requests, e.Request.URL)
		}
	})
	if err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}

	for _, size := range []struct {
		name string
		w, h int64
	}{
		{"desktop", 1280, 900},
		{"phone", 390, 844}, // an iPhone 14's CSS viewport
	} {
		if err := chromedp.Do(ctx,
			chromedp.EmulateViewport(size.w, size.h),
			chromedp.Navigate(page),
			chromedp.WaitReady(chromedp.CSS("#figures")),
		); err != nil {
			t.Fatalf("%s: %v", size.name, err)
		}
		got, err := chromedp.Run(ctx, chromedp.Evaluate[pageState](pageProbe))
		if err != nil {
			t.Fatalf("%s: %v", size.name, err)
		}
		var ids []string
		for _, f := range got.Figures {
			ids = append(ids, f.ID)
			if f.W <= 0 || f.H <= 0 || f.Texts == 0 {
				t.Errorf("%s: figure %s is %gx%g px with %d texts", size.name, f.ID, f.W, f.H, f.Texts)
			}
			if f.Left < 0 || f.Right > got.ViewportW+0.5 {
				t.Errorf("%s: figure %s spans x %g..%g, outside the viewport's %g px", size.name, f.ID, f.Left, f.Right, got.ViewportW)
			}
		}
		if !slices.Equal(ids, wantFigs) {
			t.Errorf("%s: figures %v, want %v", size.name, ids, wantFigs)
		}
		if got.ScrollW > got.ViewportW+0.5 {
			t.Errorf("%s: the page is %g px wide in a %g px viewport", size.name, got.ScrollW, got.ViewportW)
		}
		if got.MainRows != studyCells || got.FailedRows != studyFailed || got.MainCols != len(mdColumns) {
			t.Errorf("%s: main table has %d rows (%d failed) and %d columns, want %d (%d) and %d",
				size.name, got.MainRows, got.FailedRows, got.MainCols, studyCells, studyFailed, len(mdColumns))
		}
		if got.QualityRows != studyCells-studyFailed {
			t.Errorf("%s: quality table has %d rows, want %d", size.name, got.QualityRows, studyCells-studyFailed)
		}
		// Report order puts llada-8b before llama3-8b; the failed cell's
		// error shows in its row.
		if got.FirstModel != "llada-8b" || !strings.Contains(got.FailedText, "FAILED: cuda: out of memory") {
			t.Errorf("%s: first row's model %q, failed row %q", size.name, got.FirstModel, got.FailedText)
		}
		// Two lengths × two models, and the two families compared at each.
		if len(got.Pareto) != 6 {
			t.Errorf("%s: Pareto summary %q, want 6 sentences", size.name, got.Pareto)
		}
		if got.Scripts != 0 || got.Resources != 0 {
			t.Errorf("%s: %d scripts and %d loaded resources, want none", size.name, got.Scripts, got.Resources)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Errorf("browser: %s", p)
	}
	for _, r := range requests {
		if r != page {
			t.Errorf("the page requested %s", r)
		}
	}
}
