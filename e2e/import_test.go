package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
)

// importRun runs "timecamp-scim import" with the token in SCIM_TOKEN and
// returns its output and exit code.
func importRun(t *testing.T, token string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"import"}, args...)...)
	cmd.Env = append(os.Environ(), "SCIM_TOKEN="+token, "SCIM_URL=")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run import: %v", err)
	}
	if strings.Contains(out.String()+errOut.String(), token) {
		t.Fatalf("the import printed the token:\n%s\n%s", out.String(), errOut.String())
	}
	return out.String(), errOut.String(), code
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func total(t *testing.T, c *scimtest.Client, path string) string {
	t.Helper()
	return fmt.Sprint(c.Get(t, path).Expect(t, http.StatusOK).At("totalResults"))
}

// The built binary imports a CSV file into a running server through its
// SCIM API, refuses the same file again (every address exists), checks
// without changing anything on --dry-run, and explains a malformed file
// by line number.
func TestImportCommand(t *testing.T) {
	s := startServer(t)
	base := "http://" + s.addr
	s.Client.Post(t, "/Projects", map[string]any{"schemas": []string{"urn:timecamp:params:scim:schemas:core:2.0:Project"}, "displayName": "Apollo"}).Expect(t, http.StatusCreated)

	var b strings.Builder
	b.WriteString("\ufeffemail,givenName,familyName,role,group,projects,allProjects\n") // as Excel saves it
	for i := 0; i < 60; i++ {
		group := []string{"Engineering/Backend", "Engineering", "Sales/EMEA/North"}[i%3]
		fmt.Fprintf(&b, "user%d@example.com,User,%d,%s,%s,%s,%v\n", i, i, []string{"user", "supervisor", "guest"}[i%3], group, []string{"Apollo", ""}[i%2], i%2 == 1)
	}
	file := writeFile(t, "people.csv", b.String())

	// Dry run: checked, nothing changed.
	out, errOut, code := importRun(t, s.token, file, "--url", base, "--dry-run")
	if code != 0 || !strings.Contains(out, "would create 60 users and 5 groups") || !strings.Contains(out, "nothing was changed") {
		t.Fatalf("dry run: exit %d\n%s\n%s", code, out, errOut)
	}
	if n := total(t, s.Client, "/Users?count=0"); n != "0" {
		t.Fatalf("the dry run created %s users", n)
	}

	// The import, with the URL ending in /scim/v2 and flags after the file.
	out, errOut, code = importRun(t, s.token, "--url", base+"/scim/v2/", file)
	if code != 0 || !strings.Contains(out, "created 60 users and 5 groups, added 60 users to groups") {
		t.Fatalf("import: exit %d\n%s\n%s", code, out, errOut)
	}
	if errOut != "" {
		t.Fatalf("import wrote to stderr (no terminal, so no progress bar): %q", errOut)
	}
	if n := total(t, s.Client, "/Users?count=0"); n != "60" {
		t.Fatalf("%s users after the import", n)
	}
	north := s.Client.Get(t, "/Groups?filter="+url.QueryEscape(`displayName eq "North"`)).Expect(t, http.StatusOK)
	if north.Str("Resources.0.urn:ietf:params:scim:schemas:extension:timecamp:2.0:Group.path") != "default/Sales/EMEA/North" || len(north.At("Resources.0.members").([]any)) != 20 {
		t.Fatalf("group North: %s", north.Raw)
	}

	// Again: every address exists, nothing is imported, each line named.
	out, errOut, code = importRun(t, s.token, file, "--url", base)
	if code != 1 || out != "" || !strings.Contains(errOut, file+":2: user0@example.com already has a user in this account") ||
		!strings.Contains(errOut, file+":61: user59@example.com already has a user") || !strings.Contains(errOut, "nothing was imported") {
		t.Fatalf("second import: exit %d\n%s\n%s", code, out, errOut)
	}

	// A malformed file.
	bad := writeFile(t, "bad.csv", "email,role\nok@example.com,user\nnot-an-address,user\nx@example.com,owner\ny@example.com,user,extra\n")
	_, errOut, code = importRun(t, s.token, bad, "--url", base)
	for _, want := range []string{
		bad + `:3: "not-an-address" is not an email address`,
		bad + `:4: unknown role "owner"`,
		bad + ":5: 3 fields, but the header has 2 columns",
		"timecamp-scim: " + bad + ": 3 problems; nothing was imported",
	} {
		if code != 1 || !strings.Contains(errOut, want) {
			t.Fatalf("malformed file: exit %d, want %q in:\n%s", code, want, errOut)
		}
	}
	if n := total(t, s.Client, "/Users?count=0"); n != "60" {
		t.Fatalf("%s users after refused imports", n)
	}

	// From standard input, with the URL from SCIM_URL.
	cmd := exec.Command(binary, "import", "-")
	cmd.Env = append(os.Environ(), "SCIM_TOKEN="+s.token, "SCIM_URL="+base)
	cmd.Stdin = strings.NewReader("email\nstdin@example.com\n")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "-: created 1 user (1 line") {
		t.Fatalf("import from stdin: %v\n%s", err, out)
	}

	// Usage and token mistakes.
	if _, errOut, code = importRun(t, s.token, file); code != 2 || !strings.Contains(errOut, "--url is required") {
		t.Fatalf("without --url: exit %d\n%s", code, errOut)
	}
	if _, errOut, code = importRun(t, "wrong-token", file, "--url", base); code != 1 || !strings.Contains(errOut, "refused the SCIM token (401)") {
		t.Fatalf("wrong token: exit %d\n%s", code, errOut)
	}
}
