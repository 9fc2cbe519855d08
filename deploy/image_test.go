package deploy_test

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// dockerfile is what the image test reads from ../Dockerfile, so that
// the test builds and runs the binary as the image does.
type dockerfile struct {
	build      string            // the build stage's "go build" command
	base       string            // the final stage's FROM
	env        map[string]string // the final stage's ENV
	user       string            // USER
	entrypoint []string
	cmd        []string
	dataChown  string // the --chown of the COPY that makes /data
}

// parseDockerfile reads the instructions the image test needs, joining
// continued lines.
func parseDockerfile(t *testing.T) dockerfile {
	t.Helper()
	raw, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	text := regexp.MustCompile(`\\\n\s*`).ReplaceAllString(string(raw), " ")
	d := dockerfile{env: map[string]string{}}
	final := false
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		inst, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(inst) {
		case "FROM":
			d.base, _, _ = strings.Cut(rest, " ")
			final = true // the last FROM wins; earlier stages reset below
			d.env, d.user, d.entrypoint, d.cmd, d.dataChown = map[string]string{}, "", nil, nil, ""
		case "RUN":
			for _, part := range strings.Split(rest, "&&") {
				if strings.Contains(part, "go build") {
					d.build = strings.TrimSpace(part)
				}
			}
		case "ENV":
			for _, m := range regexp.MustCompile(`(\w+)=("[^"]*"|\S+)`).FindAllStringSubmatch(rest, -1) {
				d.env[m[1]] = strings.Trim(m[2], `"`)
			}
		case "USER":
			d.user = rest
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(rest), &d.entrypoint); err != nil {
				t.Fatalf("ENTRYPOINT %s: %v", rest, err)
			}
		case "CMD":
			if err := json.Unmarshal([]byte(rest), &d.cmd); err != nil {
				t.Fatalf("CMD %s: %v", rest, err)
			}
		case "COPY":
			if m := regexp.MustCompile(`--chown=(\S+) .* /data$`).FindStringSubmatch(rest); m != nil {
				d.dataChown = m[1]
			}
		}
	}
	if !final || d.build == "" || len(d.entrypoint) == 0 {
		t.Fatalf("the Dockerfile has no go build, final stage or ENTRYPOINT: %+v", d)
	}
	return d
}

// distrolessBase is the image the root below stands for: change both
// together.
const distrolessBase = "gcr.io/distroless/static-debian12:nonroot"

// The image, as far as a machine without a container engine allows: the
// binary built with the Dockerfile's own command (CGO_ENABLED=0 and its
// flags), in a root holding only what the distroless base provides (the
// nonroot user in /etc/passwd, CA certificates, /tmp), started with the
// image's ENTRYPOINT, CMD, ENV and USER (uid 65532), on a read-only root
// with /data as its volume and /tmp in memory (as the Kubernetes
// Deployment runs it). It must start on the empty /data, answer /readyz,
// write its database in /data, serve a SCIM request, and take a backup
// from inside its own root (kubectl exec), since the image has no sqlite3.
func TestImageRunsInDistrolessRoot(t *testing.T) {
	d := parseDockerfile(t)
	if d.base != distrolessBase {
		t.Fatalf("the final stage runs on %s; this test builds a root standing for %s: update both", d.base, distrolessBase)
	}
	uid, gid, ok := strings.Cut(d.user, ":")
	if !ok || uid != "65532" || gid != "65532" || d.dataChown != d.user {
		t.Fatalf("USER %q, /data owned by %q: want 65532:65532 for both", d.user, d.dataChown)
	}
	if os.Geteuid() != 0 {
		t.Skip("the image test runs the binary in a chroot as uid 65532, which needs root (CI runs as root): skipped as not root")
	}
	for _, tool := range []string{"unshare", "chroot", "nsenter", "mount", "sh"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the image test needs %s (util-linux, coreutils): %v", tool, err)
		}
	}
	probe := exec.Command("unshare", "--mount", "--propagation", "private", "true")
	if out, err := probe.CombinedOutput(); err != nil {
		t.Skipf("the kernel refuses a mount namespace here (unshare --mount: %v: %s): the image test cannot run", err, bytes.TrimSpace(out))
	}

	work := t.TempDir()
	root := filepath.Join(work, "root")
	binary := filepath.Join(root, strings.TrimPrefix(d.entrypoint[0], "/"))
	buildLikeDockerfile(t, d.build, binary)

	// What gcr.io/distroless/static-debian12:nonroot holds that a static
	// Go binary can use.
	files := map[string]string{
		"etc/passwd":        "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
		"etc/group":         "root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n",
		"etc/nsswitch.conf": "hosts: files dns\n",
	}
	for name, content := range files {
		mustWrite(t, filepath.Join(root, name), []byte(content), 0o644)
	}
	ca, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		t.Fatalf("CA certificates for the root: %v", err)
	}
	mustWrite(t, filepath.Join(root, "etc/ssl/certs/ca-certificates.crt"), ca, 0o644)
	for _, dir := range []struct {
		path string
		mode os.FileMode
		uid  int
	}{{"tmp", 0o1777, 0}, {"home/nonroot", 0o700, 65532}, {"data", 0o755, 65532}} {
		p := filepath.Join(root, dir.path)
		if err := os.MkdirAll(p, dir.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, dir.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, dir.uid, dir.uid); err != nil {
			t.Fatal(err)
		}
	}
	// The volume: an empty folder of the host, owned as COPY --chown made
	// /data (a new Docker volume takes the image's ownership).
	volume := filepath.Join(work, "volume")
	if err := os.Mkdir(volume, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(volume, 65532, 65532); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(work, 0o755); err != nil { // uid 65532 walks through it
		t.Fatal(err)
	}

	addr := freePort(t)
	token := "image-test-token-0123456789abcdef0123"
	// The image's environment: distroless's, the Dockerfile's ENV, and
	// what "docker run -e" adds (a port of our own, a bootstrap token).
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}
	for k, v := range d.env {
		env = append(env, k+"="+v)
	}
	env = append(env, "SCIM_ADDR="+addr, "SCIM_BOOTSTRAP_TOKEN="+token)
	dataDir := d.env["SCIM_DATA_DIR"]
	if dataDir != "/data" {
		t.Fatalf("the image's SCIM_DATA_DIR is %q, its volume /data", dataDir)
	}
	args := append(append([]string{}, d.entrypoint...), d.cmd...)
	script := fmt.Sprintf(`mount --bind %[1]s %[1]s
mount -o remount,bind,ro %[1]s
mount --bind %[2]s %[1]s/data
mount -t tmpfs -o mode=1777 tmpfs %[1]s/tmp
exec chroot --userspec=%[3]s %[1]s %[4]s`, shellQuote(root), shellQuote(volume), d.user, strings.Join(args, " "))
	server := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-ec", script)
	server.Env = env
	var logs syncBuffer
	server.Stdout, server.Stderr = &logs, &logs
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- server.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			_ = server.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("server output:\n%s", logs.String())
		}
	}()

	base := "http://" + addr
	for deadline := time.Now().Add(60 * time.Second); ; {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-exited:
			stopped = true
			t.Fatalf("the server exited before it was ready: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz did not answer 200 within 60s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// It runs as 65532, and wrote its database in the volume.
	if st, err := os.Stat(fmt.Sprintf("/proc/%d", server.Process.Pid)); err != nil || st.Sys().(*syscall.Stat_t).Uid != 65532 {
		t.Errorf("the server process is not uid 65532: %v", err)
	}
	db, err := os.Stat(filepath.Join(volume, "timecamp-scim.db"))
	if err != nil {
		t.Fatalf("no database in /data: %v", err)
	}
	if db.Sys().(*syscall.Stat_t).Uid != 65532 {
		t.Errorf("the database belongs to uid %d", db.Sys().(*syscall.Stat_t).Uid)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/scim/v2/Users", strings.NewReader(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"image@example.com"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /Users in the image: %d", resp.StatusCode)
	}

	// "kubectl exec … -- timecamp-scim store backup": the same binary, in
	// the same root and mounts, as the same user.
	exe := exec.Command("nsenter", "--mount=/proc/"+fmt.Sprint(server.Process.Pid)+"/ns/mnt", "chroot", "--userspec="+d.user, root, d.entrypoint[0], "store", "backup", "--to", "/tmp/backup")
	exe.Env = env
	if out, err := exe.CombinedOutput(); err != nil || !bytes.Contains(out, []byte("backed up /data to /tmp/backup")) {
		t.Fatalf("store backup inside the image: %v\n%s", err, out)
	}

	// SIGTERM, as "docker stop" sends: a clean exit.
	if err := server.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Fatalf("the server exited with %v on SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not stop within 30s of SIGTERM")
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("the server logged errors:\n%s", logs.String())
	}
}

// buildLikeDockerfile runs the Dockerfile's go build command from the
// repository's root (the build stage's WORKDIR, holding COPY . .), with
// its output moved to out, and checks that the result is static.
func buildLikeDockerfile(t *testing.T, command, out string) {
	t.Helper()
	o := regexp.MustCompile(`-o\s+\S+`)
	if !o.MatchString(command) || !strings.Contains(command, "CGO_ENABLED=0") {
		t.Fatalf("the Dockerfile's build %q has no -o, or is not CGO_ENABLED=0", command)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	command = o.ReplaceAllLiteralString(command, "-o "+shellQuote(out))
	build := exec.Command("sh", "-ec", command)
	build.Dir = ".."
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", command, err, b)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("the binary asks for a dynamic loader: not static, the distroless static image cannot run it")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Fatalf("the binary needs %v: not static", libs)
	}
}

func mustWrite(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// syncBuffer is a bytes.Buffer safe for a process's output and a reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
