package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/timecamp/timecamp-scim/config"
	"github.com/timecamp/timecamp-scim/tracing"
)

// configCommand runs "timecamp-scim config print|check|docs".
func configCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 1 && args[0] == "docs" {
		return config.WriteDocs(stdout)
	}
	if len(args) == 0 || (args[0] != "print" && args[0] != "check") {
		return usageError{"config: give print (the effective configuration, secrets redacted), check (validate it as serve does at start, and ask the OIDC issuer) or docs (the configuration reference, docs/configuration.md)"}
	}
	c := newCommand("config "+args[0], stderr)
	if err := c.parse(args[1:]); err != nil {
		return err
	}
	if len(c.args) > 0 {
		return usageError{fmt.Sprintf("config %s takes no arguments, got %q", args[0], c.args[0])}
	}
	err := c.cfg.Validate()
	if args[0] == "print" {
		// Printed even when invalid: it shows what the mistake is in.
		if perr := c.cfg.Print(stdout); perr != nil {
			return perr
		}
		printOTel(stdout, os.Environ())
		if err != nil {
			return usageError{err.Error()}
		}
		return nil
	}
	if err != nil {
		return usageError{err.Error()}
	}
	if err := c.cfg.CheckServe(ctx); err != nil {
		return err
	}
	if err := c.cfg.CheckIssuer(ctx); err != nil {
		return err
	}
	if tracing.Configured(os.LookupEnv) {
		if err := tracing.CheckProtocol(os.LookupEnv); err != nil {
			return err
		}
	}
	fmt.Fprintln(stdout, "configuration OK")
	return nil
}

// printOTel lists the OpenTelemetry variables that are set, as comments:
// the exporter reads them itself, so they are not settings of ours, but
// they are part of what the server will do. Headers (which carry API
// keys) are redacted whole, endpoints lose any password.
func printOTel(w io.Writer, environ []string) {
	var lines []string
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "OTEL_") {
			continue
		}
		if strings.Contains(k, "HEADERS") && v != "" {
			v = config.Redacted
		} else {
			v = config.Redact(v)
		}
		lines = append(lines, fmt.Sprintf("#   %s=%s", k, v))
	}
	if len(lines) == 0 {
		fmt.Fprintln(w, "# Traces: off (no OTEL_EXPORTER_OTLP_ENDPOINT).")
		return
	}
	slices.Sort(lines)
	fmt.Fprintln(w, "# OpenTelemetry (environment):")
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}
