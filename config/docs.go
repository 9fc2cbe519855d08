package config

import (
	_ "embed"
	"errors"
	"fmt"
	"io"
	"strings"
)

// The configuration reference, docs/configuration.md, is generated from
// Settings (so a new setting shows up there once the file is
// regenerated) and the prose of configuration.md.tmpl around it:
//
//	go run ./cmd/timecamp-scim config docs > docs/configuration.md
//
// TestConfigurationDocsUpToDate fails when the committed file differs.

//go:embed configuration.md.tmpl
var docsTemplate string

// DocsCommand is how docs/configuration.md is regenerated.
const DocsCommand = "go run ./cmd/timecamp-scim config docs > docs/configuration.md"

// docsTableMarker is where the settings table goes in the template.
const docsTableMarker = "{{settings table}}"

// docsMore adds to a setting's usage in the reference what does not
// belong in -h: links to the pages that explain it, and details. A
// setting without an entry is documented by its usage alone.
var docsMore = map[string]string{
	"base-url":                "`meta.location` is `{SCIM_BASE_URL}/scim/v2/...` and invitation links `{SCIM_BASE_URL}/invitations/...`; unset, `meta.location` follows each request and links use `http://HOST:PORT` from `SCIM_ADDR` (`localhost` for an address on all interfaces)",
	"mongodb-uri":             "unless it says otherwise: `w=majority`, 2 s to find the primary, 10 s per operation (`timeoutMS`); `w=0` and secondary reads are refused ([production](production.md#mongodb-connection-string-and-write-concern))",
	"data-dir":                "it holds one file, `timecamp-scim.db` (and its write-ahead log while a server runs); `store backup --to DIR` copies it, while it serves, into a folder a server starts from ([operations](operations.md#backup-and-restore))",
	"data-sync":               "see [the embedded database](production.md#the-embedded-database)",
	"bootstrap-token":         "stored hashed; setting it again on a restart is harmless; a new value replaces the old one, which is revoked for good; see [security](security.md)",
	"smtp-url":                "see [invitations](invitations.md#sending) and [security](security.md)",
	"config":                  "see [the config file](#configuration) above",
	"metrics-addr":            "see [metrics](operations.md#metrics)",
	"tls-cert":                "see [HTTPS](production.md#https)",
	"trusted-proxies":         "see [behind a reverse proxy](production.md#behind-a-reverse-proxy)",
	"oidc-issuer":             "see [the admin console](console.md)",
	"activity-retention":      "see [the activity log](console.md#the-activity-log)",
	"rate-limit":              "see [limits](operations.md#limits-overload-and-shutdown)",
	"max-concurrent-requests": "see [limits](operations.md#limits-overload-and-shutdown)",
	"auth-failure-limit":      "see [security](security.md)",
	"shutdown-timeout":        "see [shutdown](operations.md#limits-overload-and-shutdown)",
}

// WriteDocs writes docs/configuration.md.
func WriteDocs(w io.Writer) error {
	before, after, ok := strings.Cut(docsTemplate, docsTableMarker)
	if !ok {
		return errors.New("config/configuration.md.tmpl has no " + docsTableMarker)
	}
	var b strings.Builder
	b.WriteString(before)
	b.WriteString("| Variable | Flag | Default | Meaning |\n| --- | --- | --- | --- |\n")
	for _, s := range (&Config{}).Settings() {
		def := ""
		if s.Default != "" {
			def = "`" + s.Default + "`"
		}
		meaning := s.Usage
		if s.secret {
			meaning += "; a secret: `-h` does not show its value, `config print` redacts it"
		}
		if more := docsMore[s.Flag]; more != "" {
			meaning += "; " + more
		}
		fmt.Fprintf(&b, "| `%s` | `--%s` | %s | %s |\n", s.Env, s.Flag, def, cell(meaning))
	}
	b.WriteString(after)
	_, err := io.WriteString(w, b.String())
	return err
}

// cell makes text safe in a Markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
