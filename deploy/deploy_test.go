// Package deploy holds the Compose file, the Kubernetes manifests and the
// scheduled backups; its tests check that they name only settings the
// server knows, that the settings they give pass the server's own
// validation, and (image_test.go) that the binary the Dockerfile builds
// runs as the image runs it.
package deploy_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/timecamp/timecamp-scim/config"
)

// manifest is one YAML document of a deploy file.
type manifest struct {
	file string
	doc  map[string]any
}

func loadManifests(t *testing.T) []manifest {
	t.Helper()
	var out []manifest
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || (filepath.Ext(path) != ".yaml" && filepath.Ext(path) != ".yml") {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		for {
			var doc map[string]any
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if doc != nil {
				out = append(out, manifest{path, doc})
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 6 {
		t.Fatalf("found %d YAML documents under deploy/", len(out))
	}
	return out
}

// strings walks a decoded document and yields every key and string value.
func allStrings(v any, yield func(string)) {
	switch x := v.(type) {
	case string:
		yield(x)
	case map[string]any:
		for k, el := range x {
			yield(k)
			allStrings(el, yield)
		}
	case []any:
		for _, el := range x {
			allStrings(el, yield)
		}
	}
}

var scimName = regexp.MustCompile(`SCIM_[A-Z0-9_]+`)

// Every SCIM_* name in the deploy files is a setting of the server.
func TestDeployFilesNameKnownSettings(t *testing.T) {
	known := map[string]bool{}
	for _, s := range (&config.Config{}).Settings() {
		known[s.Env] = true
	}
	used := 0
	for _, m := range loadManifests(t) {
		allStrings(m.doc, func(s string) {
			for _, name := range scimName.FindAllString(s, -1) {
				used++
				if !known[name] {
					t.Errorf("%s uses %s, which is no setting of the server", m.file, name)
				}
			}
		})
	}
	// The files that are not YAML (the cron file) too.
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, ".go") || filepath.Ext(path) == ".yaml" || filepath.Ext(path) == ".yml" {
			return err
		}
		raw, err := os.ReadFile(path)
		for _, name := range scimName.FindAllString(string(raw), -1) {
			used++
			if !known[name] {
				t.Errorf("%s uses %s, which is no setting of the server", path, name)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if used < 10 {
		t.Fatalf("only %d SCIM_* names found: is the walk broken?", used)
	}
}

// The scheduled backups: the Kubernetes CronJob dumps the database the
// Deployment uses (the same Secret key), whole and consistent (--oplog),
// one at a time, into a volume the manifests claim, renaming a dump only
// once it is complete.
func TestBackupCronJob(t *testing.T) {
	ms := loadManifests(t)
	job := byKind(t, ms, "CronJob")
	if f := strings.Fields(fmt.Sprint(at(job, "spec", "schedule"))); len(f) != 5 {
		t.Errorf("schedule %q is not a cron expression", at(job, "spec", "schedule"))
	}
	if at(job, "spec", "concurrencyPolicy") != "Forbid" {
		t.Error("two backups may run at once")
	}
	pod := at(job, "spec", "jobTemplate", "spec", "template", "spec")
	c := at(pod, "containers", 0)
	script := strings.Join(toStrings(at(c, "command")), " ")
	for _, want := range []string{"mongodump", "--oplog", `--uri="$SCIM_MONGODB_URI"`, ".partial", "mv "} {
		if !strings.Contains(script, want) {
			t.Errorf("the CronJob's command lacks %s: %s", want, script)
		}
	}
	dep := byKind(t, ms, "Deployment")
	uriRef := func(container any) any {
		for _, e := range at(container, "env").([]any) {
			if at(e, "name") == "SCIM_MONGODB_URI" {
				return at(e, "valueFrom", "secretKeyRef")
			}
		}
		return nil
	}
	want := uriRef(at(dep, "spec", "template", "spec", "containers", 0))
	if got := uriRef(c); got == nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the CronJob's SCIM_MONGODB_URI comes from %v, the Deployment's from %v", got, want)
	}
	claim := at(pod, "volumes", 0, "persistentVolumeClaim", "claimName")
	pvc := byKind(t, ms, "PersistentVolumeClaim")
	if claim == nil || at(pvc, "metadata", "name") != claim || at(c, "volumeMounts", 0, "name") != at(pod, "volumes", 0, "name") {
		t.Errorf("the backups go to claim %v, the manifests claim %v", claim, at(pvc, "metadata", "name"))
	}
	if at(pod, "securityContext", "runAsNonRoot") != true || at(c, "securityContext", "allowPrivilegeEscalation") != false {
		t.Error("the backup pod may run as root or escalate")
	}
}

// The host cron line for the embedded database backs the server's data
// folder up with "store backup" (e2e runs its command).
func TestBackupCronFile(t *testing.T) {
	raw, err := os.ReadFile("cron/timecamp-scim-backup")
	if err != nil {
		t.Fatal(err)
	}
	var env, jobs []string
	for _, line := range strings.Split(string(raw), "\n") {
		switch {
		case strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#"):
		case regexp.MustCompile(`^[A-Z_]+=`).MatchString(line):
			env = append(env, line)
		default:
			jobs = append(jobs, line)
		}
	}
	if len(jobs) != 1 || !slices.ContainsFunc(env, func(e string) bool { return strings.HasPrefix(e, "SCIM_DATA_DIR=") }) {
		t.Fatalf("want one job and SCIM_DATA_DIR: jobs %q, environment %q", jobs, env)
	}
	f := strings.Fields(jobs[0])
	if len(f) < 8 || !strings.Contains(jobs[0], "store backup --to ") {
		t.Fatalf("not a cron.d line (5 fields, a user, a command) running store backup: %q", jobs[0])
	}
}

// at walks nested maps and lists: at(doc, "spec", "template", 0, ...).
func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func byKind(t *testing.T, ms []manifest, kind string) map[string]any {
	t.Helper()
	for _, m := range ms {
		if m.doc["kind"] == kind {
			return m.doc
		}
	}
	t.Fatalf("no %s in deploy/kubernetes", kind)
	return nil
}

// validate runs the server's validation over environment settings.
func validate(t *testing.T, where string, env map[string]string) {
	t.Helper()
	fs := flag.NewFlagSet(where, flag.ContinueOnError)
	c := config.Register(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("%s: the settings do not validate: %v", where, err)
	}
}

func TestKubernetesManifests(t *testing.T) {
	ms := loadManifests(t)
	dep := byKind(t, ms, "Deployment")
	if r, _ := at(dep, "spec", "replicas").(int); r != 2 {
		t.Errorf("Deployment replicas %v, want 2", at(dep, "spec", "replicas"))
	}
	podLabels, _ := at(dep, "spec", "template", "metadata", "labels").(map[string]any)
	c := at(dep, "spec", "template", "spec", "containers", 0)
	if p := at(c, "readinessProbe", "httpGet", "path"); p != "/readyz" {
		t.Errorf("readiness probe on %v", p)
	}
	if p := at(c, "livenessProbe", "httpGet", "path"); p != "/healthz" {
		t.Errorf("liveness probe on %v", p)
	}
	if at(dep, "spec", "template", "spec", "securityContext", "runAsNonRoot") != true || at(c, "securityContext", "allowPrivilegeEscalation") != false {
		t.Error("the pod may run as root or escalate")
	}
	// Every label selector picks the Deployment's pods.
	for _, kind := range []string{"Service", "PodDisruptionBudget"} {
		doc := byKind(t, ms, kind)
		sel := at(doc, "spec", "selector")
		if kind == "PodDisruptionBudget" {
			sel = at(sel, "matchLabels")
			if at(doc, "spec", "minAvailable") != 1 {
				t.Errorf("PodDisruptionBudget minAvailable %v", at(doc, "spec", "minAvailable"))
			}
		}
		for k, v := range sel.(map[string]any) {
			if podLabels[k] != v {
				t.Errorf("%s selects %s=%v, which the pods do not carry", kind, k, v)
			}
		}
	}
	// The environment the pods get: the ConfigMap, and the Secret's keys
	// that the Deployment names (all present).
	cm := byKind(t, ms, "ConfigMap")
	secret := byKind(t, ms, "Secret")
	env := map[string]string{}
	for k, v := range at(cm, "data").(map[string]any) {
		env[k] = v.(string)
	}
	secretData := at(secret, "stringData").(map[string]any)
	var secretEnv []string
	for _, e := range at(c, "env").([]any) {
		name := at(e, "name").(string)
		ref := at(e, "valueFrom", "secretKeyRef")
		if ref == nil {
			env[name], _ = at(e, "value").(string)
			continue
		}
		if at(ref, "name") != at(secret, "metadata", "name") {
			t.Errorf("%s comes from Secret %v, not in the manifests", name, at(ref, "name"))
		}
		v, ok := secretData[at(ref, "key").(string)]
		if !ok {
			t.Errorf("%s: the Secret has no key %v", name, at(ref, "key"))
		}
		env[name], _ = v.(string)
		secretEnv = append(secretEnv, name)
	}
	for _, want := range []string{"SCIM_BOOTSTRAP_TOKEN", "SCIM_SMTP_URL", "SCIM_OIDC_CLIENT_SECRET", "SCIM_MONGODB_URI"} {
		if !slices.Contains(secretEnv, want) {
			t.Errorf("%s does not come from the Secret", want)
		}
	}
	// No secret setting is in the ConfigMap.
	for _, s := range (&config.Config{}).Settings() {
		if _, inCM := at(cm, "data").(map[string]any)[s.Env]; inCM && s.Secret() {
			t.Errorf("secret setting %s is in the ConfigMap", s.Env)
		}
	}
	validate(t, "kubernetes", env)
}

// composeEnv resolves Compose's ${VAR:-default} and ${VAR:?message} the
// way "docker compose up" does with VAR unset (a required one gets a
// stand-in value).
func composeEnv(t *testing.T, raw map[string]any) map[string]string {
	t.Helper()
	subst := regexp.MustCompile(`\$\{([A-Z0-9_]+)(?::([-?])([^}]*))?\}`)
	env := map[string]string{}
	for k, v := range raw {
		s, ok := v.(string)
		if !ok {
			t.Fatalf("compose: %s is not a string (quote it)", k)
		}
		env[k] = subst.ReplaceAllStringFunc(s, func(m string) string {
			p := subst.FindStringSubmatch(m)
			switch p[2] {
			case "-":
				return p[3]
			case "?":
				return "stand-in-for-" + p[1]
			}
			t.Errorf("compose: %s uses %s without a default", k, m)
			return ""
		})
	}
	return env
}

func TestComposeFile(t *testing.T) {
	var compose map[string]any
	for _, m := range loadManifests(t) {
		if filepath.Base(m.file) == "compose.yaml" {
			compose = m.doc
		}
	}
	if compose == nil {
		t.Fatal("no deploy/compose.yaml")
	}
	mongo := at(compose, "services", "mongodb")
	cmd := strings.Join(toStrings(at(mongo, "command")), " ")
	check := strings.Join(toStrings(at(mongo, "healthcheck", "test")), " ")
	if !strings.Contains(cmd, "--replSet rs0") || !strings.Contains(check, "rs.initiate({_id: 'rs0'") || !strings.Contains(check, "host: 'mongodb:27017'") {
		t.Errorf("MongoDB is not a replica set initiated as rs0: command %q, health check %q", cmd, check)
	}
	scim := at(compose, "services", "scim")
	if at(scim, "depends_on", "mongodb", "condition") != "service_healthy" {
		t.Error("the server does not wait for the replica set")
	}
	env := composeEnv(t, at(scim, "environment").(map[string]any))
	if uri := env["SCIM_MONGODB_URI"]; !strings.Contains(uri, "replicaSet=rs0") || !strings.Contains(uri, "w=majority") {
		t.Errorf("SCIM_MONGODB_URI %q is not the replica set with majority writes", uri)
	}
	validate(t, "compose", env)

	// The backup service dumps that replica set, consistently, into a
	// volume of its own, once the database is up.
	backup := at(compose, "services", "backup")
	if at(backup, "depends_on", "mongodb", "condition") != "service_healthy" {
		t.Error("the backup service does not wait for the replica set")
	}
	benv := composeEnv(t, at(backup, "environment").(map[string]any))
	if uri := benv["SCIM_MONGODB_URI"]; !strings.Contains(uri, "mongodb:27017") || !strings.Contains(uri, "replicaSet=rs0") {
		t.Errorf("the backup service dumps %q, not the replica set", uri)
	}
	script := strings.Join(toStrings(at(backup, "command")), " ")
	for _, want := range []string{"mongodump", "--oplog", `--uri="$$SCIM_MONGODB_URI"`, ".partial", "sleep"} {
		if !strings.Contains(script, want) {
			t.Errorf("the backup service's command lacks %s: %s", want, script)
		}
	}
	mount := toStrings(at(backup, "volumes"))
	if len(mount) != 1 || !strings.HasSuffix(mount[0], ":/backups") {
		t.Errorf("the backup service mounts %v", mount)
	} else if vol, _, _ := strings.Cut(mount[0], ":"); at(compose, "volumes", vol) == nil {
		if _, declared := at(compose, "volumes").(map[string]any)[vol]; !declared {
			t.Errorf("volume %s is not declared", vol)
		}
	}
}

func toStrings(v any) []string {
	var out []string
	for _, el := range v.([]any) {
		out = append(out, el.(string))
	}
	return out
}

// The Dockerfile builds in one stage and runs a static binary as a
// non-root user in another.
func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var froms []string
	user := ""
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			froms = append(froms, f[1])
			user = "" // USER is per stage
		case "USER":
			user = f[1]
		}
	}
	text := string(raw)
	if len(froms) < 2 || !strings.Contains(text, "CGO_ENABLED=0") || !strings.Contains(text, "COPY --from=") {
		t.Errorf("not a multi-stage static build: stages %v", froms)
	}
	if last := froms[len(froms)-1]; !strings.Contains(last, "distroless/static") && last != "scratch" {
		t.Errorf("runs on %s, not a static base image", last)
	}
	if u, _, _ := strings.Cut(user, ":"); u == "" || u == "0" || u == "root" {
		t.Errorf("the final stage runs as %q", user)
	}
}
