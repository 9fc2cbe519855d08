package e2e

// A real browser for the admin console's tests: Debian's Chromium, driven
// by chromedp. Screenshots of the pages go to artifacts/screenshots
// (e2e/artifacts is ignored by git; SCIM_TEST_ARTIFACTS moves it).

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium finds the browser: skipped when missing on a developer's
// machine, a failure in CI (.ci/run installs it).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no Chromium: .ci/run installs Debian's chromium package")
	}
	t.Skip("no Chromium (apt-get install -y chromium) to run the admin console's browser tests")
	return ""
}

// browser is a headless Chromium.
type browser struct {
	t   *testing.T
	ctx context.Context
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // tests run as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(1280, 900),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		cancel()
		cancelAlloc()
		t.Fatalf("start Chromium: %v", err)
	}
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return &browser{t: t, ctx: ctx}
}

// page is a tab in a browser context of its own (its own cookies): one
// person.
type page struct {
	t   *testing.T
	ctx context.Context
	// logs, when set, says what the server logged (shown when a step fails).
	logs func() string
}

func (b *browser) person(t *testing.T) *page {
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// The first run opens the tab; it must not have a timeout, which would
	// close the tab when it runs out.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return &page{t: t, ctx: ctx}
}

// tab opens another tab of the same person (the same browser context:
// the same cookies).
func (p *page) tab(t *testing.T) *page {
	ctx, cancel := chromedp.NewContext(p.ctx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return &page{t: t, ctx: ctx, logs: p.logs}
}

// run runs steps, failing the test if they fail or take over 30 s.
func (p *page) run(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	get(p, what, chromedp.Steps(steps...))
}

// get runs an action that gives a value, failing the test if it fails or
// takes over 30 s (a stuck browser call is abandoned, not waited for).
func get[T any](p *page, what string, a chromedp.Action[T]) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := chromedp.Run(ctx, a)
		done <- result{v, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(35 * time.Second):
		r.err = errors.New("no answer from the browser in 35 s")
	}
	if r.err != nil {
		short, cancel := context.WithTimeout(p.ctx, 5*time.Second)
		defer cancel()
		loc, _ := chromedp.Run(short, chromedp.Location())
		body, _ := chromedp.Run(short, chromedp.Text(chromedp.CSS("body")))
		logs := ""
		if p.logs != nil {
			logs = "\nserver log:\n" + p.logs()
		}
		p.t.Fatalf("%s: %v (at %s)\n%s%s", what, r.err, loc, body, logs)
	}
	return r.v
}

// text is the text of the first element matching a CSS selector.
func (p *page) text(sel string) string {
	p.t.Helper()
	// A page that is replaced between finding the node and reading it
	// (the end of a redirect chain) is read again.
	for try := 0; try < 3; try++ {
		ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
		_, err := chromedp.Run(ctx, chromedp.Steps(chromedp.WaitReady(chromedp.CSS(sel))))
		var v string
		if err == nil {
			v, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		}
		cancel()
		if err == nil {
			return strings.TrimSpace(v)
		}
		time.Sleep(200 * time.Millisecond)
	}
	p.run("wait for "+sel, chromedp.WaitReady(chromedp.CSS(sel)))
	return strings.TrimSpace(get(p, "read "+sel, chromedp.Text(chromedp.CSS(sel))))
}

// value is the value of the first input matching a CSS selector.
func (p *page) value(sel string) string {
	p.t.Helper()
	return get(p, "value of "+sel, chromedp.Value(chromedp.CSS(sel)))
}

func (p *page) location() string {
	p.t.Helper()
	return get(p, "location", chromedp.Location())
}

// expectText waits for a selector and requires its text to contain want.
func (p *page) expectText(sel, want string) {
	p.t.Helper()
	if got := p.text(sel); !strings.Contains(got, want) {
		p.t.Fatalf("%s at %s: %q, want it to contain %q", sel, p.location(), got, want)
	}
}

// signIn goes through Dex's password form, starting from url.
func (p *page) signIn(url, email, password string) {
	p.t.Helper()
	p.run("sign in as "+email,
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.ID("login")),
		chromedp.SendKeys(chromedp.ID("login"), email),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("submit-login")),
		chromedp.WaitReady(chromedp.CSS("body.console")), // back from Dex

	)
}

// reauth follows the page's "Confirm it's you" (#reauth) through Dex's
// password form, back to the console.
func (p *page) reauth(email, password string) {
	p.t.Helper()
	p.run("confirm it's you as "+email,
		chromedp.Click(chromedp.ID("#reauth")),
		chromedp.WaitVisible(chromedp.ID("login")),
		chromedp.SendKeys(chromedp.ID("login"), email),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("submit-login")),
		chromedp.WaitReady(chromedp.CSS("body.console")),
	)
}

// fetchStatus sends a request from the page (with its cookies) and
// returns the HTTP status.
func (p *page) fetchStatus(method, path, form string) int {
	p.t.Helper()
	body := ""
	if form != "" {
		body = fmt.Sprintf(`, headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: %q`, form)
	}
	js := fmt.Sprintf(`fetch(%q, {method: %q, credentials: "same-origin", redirect: "manual"%s}).then(r => r.status)`, path, method, body)
	return get(p, "fetch "+path, chromedp.Evaluate[int](js, chromedp.EvalAwaitPromise))
}

// screenshot saves the page as artifacts/screenshots/NAME.png.
func (p *page) screenshot(name string) {
	p.t.Helper()
	dir := os.Getenv("SCIM_TEST_ARTIFACTS")
	if dir == "" {
		dir = "artifacts"
	}
	dir = filepath.Join(dir, "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		p.t.Fatal(err)
	}
	png := get(p, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// navigation runs an action that leads to another page (a form's submit)
// and waits until that page has loaded: a selector the old page has too
// (#flash) would otherwise match the old page.
func navigation(a chromedp.Action[chromedp.Void]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		if _, err := chromedp.Evaluate[chromedp.Void](`window.__stale = true`)(ctx, t); err != nil {
			return chromedp.Void{}, err
		}
		if _, err := a(ctx, t); err != nil {
			return chromedp.Void{}, err
		}
		for {
			// Errors are expected while the old page goes away.
			fresh, err := chromedp.Evaluate[bool](`window.__stale === undefined && document.readyState === "complete"`)(ctx, t)
			if err == nil && fresh {
				return chromedp.Void{}, nil
			}
			select {
			case <-ctx.Done():
				return chromedp.Void{}, ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}
