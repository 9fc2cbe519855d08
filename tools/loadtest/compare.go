package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A side is one server under test: how to start it on a fresh folder.
type side struct {
	name  string
	bin   string
	start func(bin, dir, addr, token string) *exec.Cmd
	base  func(addr string) string // its SCIM base URL
	ready func(addr string) string // a URL that answers 200 once it serves
}

func oursSide(name, bin string, env []string) side {
	return side{
		name: name,
		bin:  bin,
		start: func(bin, dir, addr, token string) *exec.Cmd {
			cmd := exec.Command(bin, "serve")
			cmd.Env = append(os.Environ(),
				"SCIM_DATA_DIR="+dir,
				"SCIM_ADDR="+addr,
				"SCIM_BOOTSTRAP_TOKEN="+token,
			)
			cmd.Env = append(cmd.Env, env...)
			return cmd
		},
		base:  func(addr string) string { return "http://" + addr + "/scim/v2" },
		ready: func(addr string) string { return "http://" + addr + "/readyz" },
	}
}

func peerSide(bin string) side {
	return side{
		name: "elimity",
		bin:  bin,
		start: func(bin, dir, addr, token string) *exec.Cmd {
			return exec.Command(bin, "-addr", addr)
		},
		base:  func(addr string) string { return "http://" + addr + "/scim/v2" },
		ready: func(addr string) string { return "http://" + addr + "/scim/v2/ServiceProviderConfig" },
	}
}

func compareCmd(args []string) error {
	fs := flag.NewFlagSet("compare", flag.ExitOnError)
	repo := fs.String("repo", "", "the timecamp-scim repository (default: found above the working directory)")
	sizes := fs.String("users", "1000,10000", "sizes to run, each on fresh servers")
	rounds := fs.Int("rounds", 3, "rounds (each runs both sides at every size)")
	oursBin := fs.String("ours-bin", "", "a built timecamp-scim to use instead of building one")
	peerBin := fs.String("peer-bin", "", "a built peer to use instead of building one")
	tags := fs.String("tags", "", "build tags for timecamp-scim")
	var oursEnv multiFlag
	fs.Var(&oursEnv, "ours-env", "KEY=VALUE for timecamp-scim's environment (repeatable), e.g. SCIM_DATA_SYNC=commit")
	only := fs.String("sides", "ours,elimity", "sides to run: ours, elimity, main (another build of timecamp-scim, -main-bin)")
	mainBin := fs.String("main-bin", "", "another build of timecamp-scim to run as side \"main\" (e.g. the main branch, to see what a change did)")
	logs := fs.String("logs", "", "keep each server's output in this folder")
	check := fs.Bool("check", true, "first ask each side the questions of \"loadtest check\" (on a server of its own)")
	var cfg config
	wl := cfg.flags(fs)
	_ = fs.Parse(args)
	if err := cfg.parseWorkloads(*wl); err != nil {
		return err
	}
	var ns []int
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("-users: %q is not a size", s)
		}
		ns = append(ns, n)
	}
	tmp, err := os.MkdirTemp("", "loadtest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if *repo == "" {
		if *repo, err = findRepo(); err != nil {
			return err
		}
	}
	if *oursBin == "" && strings.Contains(*only, "ours") {
		*oursBin = filepath.Join(tmp, "timecamp-scim")
		fmt.Fprintln(os.Stderr, "building timecamp-scim …")
		if err := build(*repo, "./cmd/timecamp-scim", *oursBin, *tags); err != nil {
			return err
		}
	}
	if *peerBin == "" && strings.Contains(*only, "elimity") {
		*peerBin = filepath.Join(tmp, "elimity-peer")
		fmt.Fprintln(os.Stderr, "building the elimity-com/scim peer …")
		if err := build(filepath.Join(*repo, "tools", "peers", "elimity"), ".", *peerBin, ""); err != nil {
			return err
		}
	}
	var sides []side
	for _, s := range strings.Split(*only, ",") {
		switch strings.TrimSpace(s) {
		case "ours":
			sides = append(sides, oursSide("ours", *oursBin, oursEnv))
		case "main":
			if *mainBin == "" {
				return errors.New("-sides main needs -main-bin")
			}
			sides = append(sides, oursSide("main", *mainBin, oursEnv))
		case "elimity":
			sides = append(sides, peerSide(*peerBin))
		default:
			return fmt.Errorf("-sides: unknown side %q", s)
		}
	}
	fmt.Printf("# loadtest compare: %d rounds, users %s, concurrency %d, %s\n", *rounds, *sizes, cfg.concurrency, machine())
	if *check {
		answers := map[string][]checkResult{}
		for _, sd := range sides {
			rs, err := checkSide(sd, tmp)
			if err != nil {
				return fmt.Errorf("%s: check: %w", sd.name, err)
			}
			answers[sd.name] = rs
		}
		fmt.Printf("\n# answers (right = as the RFC says)\n| question | RFC |")
		for _, sd := range sides {
			fmt.Printf(" %s |", sd.name)
		}
		fmt.Println()
		for i, q := range answers[sides[0].name] {
			fmt.Printf("| %s | %s |", q.name, q.rfc)
			for _, sd := range sides {
				a := answers[sd.name][i]
				v := "right"
				if !a.ok {
					v = "WRONG: " + a.got
				}
				fmt.Printf(" %s |", v)
			}
			fmt.Println()
		}
	}
	// all[size][workload][side] = one result per round
	all := map[int]map[string]map[string][]*result{}
	for round := 1; round <= *rounds; round++ {
		for _, n := range ns {
			order := slices.Clone(sides)
			if round%2 == 0 {
				slices.Reverse(order) // neither side always runs first
			}
			for _, sd := range order {
				cfg.users = n
				fmt.Printf("\n## round %d, %d users, %s (load average %s)\n", round, n, sd.name, loadAverage())
				rs, rss, err := runSide(sd, tmp, *logs, fmt.Sprintf("r%d-n%d", round, n), cfg)
				if err != nil {
					return fmt.Errorf("%s, %d users: %w", sd.name, n, err)
				}
				fmt.Printf("peak RSS %d MiB\n", rss>>10)
				for _, r := range rs {
					if all[n] == nil {
						all[n] = map[string]map[string][]*result{}
					}
					if all[n][r.name] == nil {
						all[n][r.name] = map[string][]*result{}
					}
					all[n][r.name][sd.name] = append(all[n][r.name][sd.name], r)
				}
			}
		}
	}
	fmt.Printf("\n# summary (ranges over %d rounds; ratios of operations/s, round by round), load average now %s\n", *rounds, loadAverage())
	var others []string // the sides ours is divided by
	for _, sd := range sides {
		if sd.name != "ours" {
			others = append(others, sd.name)
		}
	}
	for _, n := range ns {
		fmt.Printf("\n%d users\n| workload |", n)
		for _, sd := range sides {
			fmt.Printf(" %s: ops/s, p50 |", sd.name)
		}
		for _, o := range others {
			fmt.Printf(" ours ÷ %s |", o)
		}
		fmt.Println()
		for _, w := range allWorkloads {
			bySide := all[n][w]
			if bySide == nil {
				continue
			}
			fmt.Printf("| %s |", w)
			for _, sd := range sides {
				fmt.Printf(" %s |", summary(bySide[sd.name]))
			}
			for _, o := range others {
				ours, peer := bySide["ours"], bySide[o]
				ratio := "—"
				var ratios []float64
				for i := range min(len(ours), len(peer)) {
					if ours[i].skipped == "" && peer[i].skipped == "" {
						ratios = append(ratios, ours[i].rate()/peer[i].rate())
					}
				}
				if len(ratios) > 0 {
					ratio = fmtRange(ratios, "×%.2f")
				}
				fmt.Printf(" %s |", ratio)
			}
			fmt.Println()
		}
	}
	return nil
}

// summary is the range of rates and medians over the rounds.
func summary(rs []*result) string {
	if len(rs) == 0 {
		return "—"
	}
	if rs[0].skipped != "" {
		return "none (" + rs[0].skipped + ")"
	}
	var rates, p50s, cpus []float64
	for _, r := range rs {
		rates = append(rates, r.rate())
		p50s = append(p50s, float64(r.pct(0.5).Microseconds())/1000)
		if r.cpu > 0 {
			cpus = append(cpus, float64(r.cpu.Microseconds())/float64(r.ops))
		}
	}
	out := fmtRange(rates, "%.0f") + "/s, p50 " + fmtRange(p50s, "%.2f") + " ms"
	if len(cpus) == len(rs) {
		out += ", CPU " + fmtRange(cpus, "%.0f") + " µs/op"
	}
	return out
}

func fmtRange(v []float64, format string) string {
	lo, hi := slices.Min(v), slices.Max(v)
	a, b := fmt.Sprintf(format, lo), fmt.Sprintf(format, hi)
	if a == b {
		return a
	}
	return a + "–" + strings.TrimPrefix(b, "×")
}

// runSide starts a server on a fresh folder, runs the workloads against
// it and stops it; it returns the results and the server's peak RSS (KiB).
func runSide(sd side, tmp, logs, tag string, cfg config) ([]*result, int, error) {
	var rs []*result
	rss := 0
	err := withServer(sd, tmp, logs, tag, func(c *client) error {
		err := runWorkloads(c, cfg, func(r *result) {
			fmt.Println(r)
			rs = append(rs, r)
		})
		rss = c.peakRSS()
		if cpu := c.cpuTime(); cpu >= 0 {
			fmt.Printf("server CPU in all %.1f s\n", cpu.Seconds())
		}
		return err
	})
	return rs, rss, err
}

// withServer starts a side's server on a fresh folder and a free port,
// runs fn with a client of it, and stops it.
func withServer(sd side, tmp, logs, tag string, fn func(*client) error) error {
	dir, err := os.MkdirTemp(tmp, sd.name+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	token := randomToken()
	cmd := sd.start(sd.bin, dir, addr, token)
	out, err := os.Create(filepath.Join(dir, "server.log"))
	if logs != "" {
		_ = os.MkdirAll(logs, 0o755)
		out, err = os.Create(filepath.Join(logs, sd.name+"-"+tag+".log"))
	}
	if err != nil {
		return err
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	defer stop()
	if err := waitReady(sd.ready(addr), 60*time.Second); err != nil {
		return fmt.Errorf("%s did not start (its output: %s): %w", sd.name, out.Name(), err)
	}
	c := newClient(sd.base(addr), token, 16)
	c.pid = cmd.Process.Pid
	return fn(c)
}

// checkSide asks a fresh server of one side the check questions.
func checkSide(sd side, tmp string) ([]checkResult, error) {
	var out []checkResult
	err := withServer(sd, tmp, "", "check", func(c *client) error {
		var err error
		out, err = runChecks(c)
		return err
	})
	return out, err
}

func build(dir, pkg, out, tags string) error {
	args := []string{"build", "-o", out}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s in %s: %w", pkg, dir, err)
	}
	return nil
}

// findRepo walks up from the working directory to timecamp-scim's go.mod.
func findRepo() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(b), "module github.com/timecamp/timecamp-scim\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no timecamp-scim repository above the working directory: pass -repo")
		}
		dir = parent
	}
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func waitReady(url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// peakRSS reads the server's peak resident set (KiB) on Linux; 0
// elsewhere, or when the client did not start the server.
func (c *client) peakRSS() int {
	if c.pid == 0 {
		return 0
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", c.pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func machine() string { return fmt.Sprintf("%d CPUs, %s", runtime.NumCPU(), runtime.Version()) }

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
