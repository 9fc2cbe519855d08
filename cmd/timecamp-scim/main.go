// Command timecamp-scim is the SCIM 2.0 provisioning server of a
// TimeCamp-style account, and its management commands.
//
//	timecamp-scim serve                 run the server
//	timecamp-scim accounts create|list|show
//	timecamp-scim tokens create|list|revoke
//	timecamp-scim admins list|unbind    the console's bindings of administrators to sign-in identities
//	timecamp-scim import users.csv --url URL   import people from CSV (SCIM Bulk client)
//	timecamp-scim config print|check|docs    the effective configuration, a check of it, or its reference
//
// Every command reads the same settings (flags, SCIM_* environment
// variables or a YAML config file); run "timecamp-scim serve -h" to list
// them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `timecamp-scim: SCIM 2.0 provisioning for TimeCamp accounts

Usage:
  timecamp-scim serve [flags]                              run the server
  timecamp-scim accounts create --name NAME [--seats N]    add an account, print its id
  timecamp-scim accounts list                              list accounts
  timecamp-scim accounts show ACCOUNT                      show an account (seats in use, owner)
  timecamp-scim accounts set-seats ACCOUNT N               change the seats (0: unlimited)
  timecamp-scim accounts set-invitations ACCOUNT on|off    invitation emails for new users (default on)
  timecamp-scim accounts transfer-owner ACCOUNT USER       make another administrator the owner
  timecamp-scim accounts check ACCOUNT [--repair]          recount seats and look for what a crash left
                                                           (exit 0: all well, 1: problems, 3: repaired)
  timecamp-scim tokens create --account ACCOUNT --name N [--expires 90d|DATE]
                                                           add a SCIM token, print it once
  timecamp-scim tokens list --account ACCOUNT              list an account's tokens
  timecamp-scim tokens revoke --account ACCOUNT TOKEN_ID   revoke a token, for good
  timecamp-scim admins list --account ACCOUNT              administrators bound to a sign-in identity
  timecamp-scim admins unbind --account ACCOUNT USER       release an administrator's sign-in identity
                                                           (their next sign-in binds the new one)
  timecamp-scim import FILE.csv --url URL [--dry-run]      import people from a CSV file through
                                                           the SCIM API (token in $SCIM_TOKEN)
  timecamp-scim store copy --to MONGODB_URI [--to-database NAME]
                                                           copy everything (the embedded database, or
                                                           SCIM_MONGODB_URI) to a MongoDB deployment
  timecamp-scim store copy --to-data-dir DIR              ... or into an embedded data folder
  timecamp-scim store backup --to DIR                      a snapshot of the embedded database, taken while
                                                           it serves, into a data folder serve starts from
  timecamp-scim config print [flags]                       show the effective configuration, where each
                                                           value came from, secrets redacted
  timecamp-scim config check [flags]                       check the configuration as serve does at start,
                                                           and that the OIDC issuer answers
  timecamp-scim config docs                                print the configuration reference (Markdown)

ACCOUNT is an account id or name, USER a user id or userName. Settings come from flags, SCIM_*
environment variables or a YAML file (--config FILE or $SCIM_CONFIG), in that order of precedence;
"timecamp-scim serve -h" lists them.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) && err.Error() != "" {
			fmt.Fprintln(os.Stderr, "timecamp-scim:", err)
		}
		os.Exit(exitCode(err))
	}
}

// exitCode is 2 for usage errors, a command's own status (exitStatus),
// or 1.
func exitCode(err error) int {
	var u usageError
	if errors.As(err, &u) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	var st exitStatus
	if errors.As(err, &st) {
		return st.code
	}
	return 1
}

// exitStatus ends a command with an exit status that tells a result, not
// a failure (accounts check: problems found); the output said the rest.
type exitStatus struct{ code int }

func (exitStatus) Error() string { return "" }

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{"no command given"}
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stderr)
	case "accounts":
		return accounts(ctx, args[1:], stdout, stderr)
	case "tokens":
		return tokens(ctx, args[1:], stdout, stderr)
	case "admins":
		return admins(ctx, args[1:], stdout, stderr)
	case "store":
		return storeCommand(ctx, args[1:], stdout, stderr)
	case "import":
		return importCSV(ctx, args[1:], os.Stdin, stdout, stderr)
	case "config":
		return configCommand(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Sprintf("unknown command %q", args[0])}
}
