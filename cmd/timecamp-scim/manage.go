package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/timecamp/timecamp-scim/config"
	"github.com/timecamp/timecamp-scim/directory"
	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/scimfilter"
	"github.com/timecamp/timecamp-scim/store"
)

// command is a management command: its flags, then its work on the store.
type command struct {
	fs   *flag.FlagSet
	cfg  *config.Config
	args []string
}

func newCommand(name string, stderr io.Writer) *command {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return &command{fs: fs, cfg: config.FromEnvironment(fs)}
}

// open parses the flags and opens the store: the database of a running
// server on the same data folder, or the embedded database itself.
func (c *command) open(ctx context.Context, args []string) (store.Store, error) {
	if err := c.parse(args); err != nil {
		return nil, err
	}
	if err := c.cfg.Validate(); err != nil {
		return nil, usageError{err.Error()}
	}
	c.cfg.LogLevel = "warn"
	return openStore(ctx, c.cfg)
}

// openAccount is open for a command about one account: the --account
// flag (whose value is account, read after the flags are parsed) must
// name one. The caller closes the store.
func (c *command) openAccount(ctx context.Context, args []string, account *string) (store.Store, *store.Account, error) {
	st, err := c.open(ctx, args)
	if err != nil {
		return nil, nil, err
	}
	if *account == "" {
		st.Close(context.Background())
		return nil, nil, usageError{c.fs.Name() + ": --account is required"}
	}
	a, err := findAccount(ctx, st, *account)
	if err != nil {
		st.Close(context.Background())
		return nil, nil, err
	}
	return st, a, nil
}

// parse reads flags placed anywhere among the arguments
// ("accounts show Acme --data-dir /srv/scim" as well as flags first).
func (c *command) parse(args []string) error {
	c.args = nil
	for {
		if err := c.fs.Parse(args); err != nil {
			return err
		}
		rest := c.fs.Args()
		if len(rest) == 0 {
			return nil
		}
		c.args = append(c.args, rest[0])
		args = rest[1:]
	}
}

// accountCommands are the subcommands of "accounts" and the arguments
// (after the flags) each takes.
var accountCommands = map[string]string{
	"create":          "",
	"list":            "",
	"show":            "ACCOUNT",
	"set-seats":       "ACCOUNT N",
	"set-invitations": "ACCOUNT on|off",
	"transfer-owner":  "ACCOUNT USER",
	"check":           "ACCOUNT",
}

func accounts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"accounts: give create, list, show, set-seats, set-invitations, transfer-owner or check"}
	}
	want, known := accountCommands[args[0]]
	if !known {
		return usageError{fmt.Sprintf("accounts: unknown command %q (create, list, show, set-seats, set-invitations, transfer-owner, check)", args[0])}
	}
	c := newCommand("accounts "+args[0], stderr)
	var name *string
	var seats *int
	var repair *bool
	switch args[0] {
	case "create":
		name = c.fs.String("name", "", "account name (required)")
		seats = c.fs.Int("seats", 0, "number of seats (licences); 0 means unlimited")
	case "check":
		repair = c.fs.Bool("repair", false, "repair what the check finds, then check again")
	}
	st, err := c.open(ctx, args[1:])
	if err != nil {
		return err
	}
	defer st.Close(context.Background())
	if len(c.args) != len(strings.Fields(want)) {
		return usageError{fmt.Sprintf("accounts %s: give %s", args[0], want)}
	}
	if args[0] == "create" {
		if *name == "" {
			return usageError{"accounts create: --name is required"}
		}
		a, err := st.CreateAccount(ctx, *name, *seats)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, a.ID)
		return nil
	}
	if args[0] == "list" {
		list, err := st.Accounts(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tSEATS")
		for _, a := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", a.ID, a.Name, seatsText(a.Seats))
		}
		return tw.Flush()
	}
	a, err := findAccount(ctx, st, c.args[0])
	if err != nil {
		return err
	}
	switch {
	case args[0] == "set-seats", args[0] == "set-invitations", args[0] == "transfer-owner", args[0] == "check" && *repair:
		if err := refuseNextToServer(ctx, st, "accounts "+args[0]); err != nil {
			return err
		}
	}
	switch args[0] {
	case "show":
		inUse, err := st.SeatsInUse(ctx, a.ID)
		if err != nil {
			return err
		}
		owner := "(none yet: the first active user with the administrator role becomes the owner)"
		if a.Owner != "" {
			owner = a.Owner
			if u, err := st.Get(ctx, schemas.User, a.ID, a.Owner); err == nil {
				owner = fmt.Sprintf("%s (%s)", u.Attributes["userName"], a.Owner)
			}
		}
		fmt.Fprintf(stdout, "id:      %s\nname:    %s\nseats:   %d in use / %s\nowner:   %s\ninvites: %s (invitation emails for new users)\ncreated: %s\n",
			a.ID, a.Name, inUse, seatsText(a.Seats), owner, onOff(!a.InvitationsOff), a.Created.Format(timeLayout))
	case "set-seats":
		n, err := strconv.Atoi(c.args[1])
		if err != nil {
			return usageError{fmt.Sprintf("accounts set-seats: %q is not a number", c.args[1])}
		}
		if err := st.SetSeats(ctx, a.ID, n); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s now has %s seats\n", a.Name, seatsText(n))
	case "set-invitations":
		if c.args[1] != "on" && c.args[1] != "off" {
			return usageError{"accounts set-invitations: give an account and on or off"}
		}
		on := c.args[1] == "on"
		if err := st.SetInvitations(ctx, a.ID, on); err != nil {
			return err
		}
		if on {
			fmt.Fprintf(stdout, "%s: new users get an invitation email\n", a.Name)
		} else {
			fmt.Fprintf(stdout, "%s: new users get no invitation email (invitationStatus none) unless created with sendInvitation: true\n", a.Name)
		}
	case "transfer-owner":
		u, err := findUser(ctx, st, a.ID, c.args[1])
		if err != nil {
			return err
		}
		if err := directory.New(st, nil).TransferOwner(ctx, a.ID, u.ID); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s now owns %s\n", u.Attributes["userName"], a.Name)
	case "check":
		dir := directory.New(st, nil)
		ttl, _ := c.cfg.TTL() // checked by Validate
		// A repair may issue invitations: with the server's expiry.
		dir.SetInvitationSettings(directory.InvitationSettings{TTL: ttl})
		return checkAccount(ctx, dir, a, *repair, stdout)
	}
	return nil
}

// findUser accepts a user id or userName.
func findUser(ctx context.Context, st store.Store, account, ref string) (*store.Resource, error) {
	u, err := st.Get(ctx, schemas.User, account, ref)
	if !failure.Is(err, failure.NotFound) {
		return u, err
	}
	expr, err := scimfilter.Parse(fmt.Sprintf("userName eq %q", ref))
	if err != nil {
		return nil, err
	}
	page, err := st.Find(ctx, schemas.User, account, store.Query{Filter: expr, Count: 1})
	if err != nil {
		return nil, err
	}
	if len(page.Resources) == 0 {
		return nil, failure.NotFoundf("no user %q in this account", ref)
	}
	return page.Resources[0], nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func seatsText(n int) string {
	if n == 0 {
		return "unlimited"
	}
	return fmt.Sprint(n)
}

func tokens(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"tokens: give create, list or revoke"}
	}
	c := newCommand("tokens "+args[0], stderr)
	account := c.fs.String("account", "", "account id or name (required)")
	var name, expires *string
	if args[0] == "create" {
		name = c.fs.String("name", "", "what the token is for, e.g. okta or entra (required)")
		expires = c.fs.String("expires", "", "when the token stops working: a date (2027-01-31, through that day UTC) or a number of days (90d), at most 10 years away; default never")
	}
	st, a, err := c.openAccount(ctx, args[1:], account)
	if err != nil {
		return err
	}
	defer st.Close(context.Background())
	switch args[0] {
	case "create":
		if *name == "" {
			return usageError{"tokens create: --name is required"}
		}
		until, err := store.ParseTokenExpiry(*expires, time.Now())
		if err != nil {
			return usageError{"tokens create: --expires: " + err.Error()}
		}
		secret, tok, err := st.CreateToken(ctx, a.ID, store.TokenSpec{Name: *name, CreatedBy: store.CreatorCLI, Expires: until})
		e := &store.ActivityEntry{Account: a.ID, ResourceType: "Token", Resource: *name, Operation: "create"}
		if tok != nil {
			e.ResourceID = tok.ID
		}
		recordOperator(ctx, st, e, cli, err)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, secret)
		fmt.Fprintln(stderr, "Keep this token now: it is stored hashed and cannot be shown again.")
		return nil
	case "list":
		list, err := st.Tokens(ctx, a.ID)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tCREATED\tCREATED BY\tEXPIRES")
		for _, t := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Created.Format(timeLayout), orDash(t.CreatedBy), expiryText(t.Expires))
		}
		return tw.Flush()
	case "revoke":
		if len(c.args) != 1 {
			return usageError{"tokens revoke: give the id of the token (see tokens list)"}
		}
		e := &store.ActivityEntry{Account: a.ID, ResourceType: "Token", ResourceID: c.args[0], Operation: "revoke"}
		if list, err := st.Tokens(ctx, a.ID); err == nil {
			for _, t := range list {
				if t.ID == c.args[0] {
					e.Resource = t.Name
				}
			}
		}
		// On FerretDB the server's note of a token's use could undo the
		// revocation (read-modify-write): revoke there in the console, or
		// with the server stopped.
		if err := refuseNextToServer(ctx, st, "tokens revoke"); err != nil {
			return err
		}
		err := st.RevokeToken(ctx, a.ID, c.args[0], store.CreatorCLI)
		recordOperator(ctx, st, e, cli, err)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, "revoked", c.args[0], "(for good: its secret is never accepted again)")
		return nil
	}
	return usageError{fmt.Sprintf("tokens: unknown command %q (create, list, revoke)", args[0])}
}

const timeLayout = "2006-01-02 15:04:05Z07:00"

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func expiryText(t time.Time) string {
	switch {
	case t.IsZero():
		return "never"
	case !time.Now().Before(t):
		return "expired " + t.Format(timeLayout)
	}
	return t.Format(timeLayout)
}

// cli is the operator at the command line, as the activity log names them.
var cli = store.Actor{Kind: store.ActorOperator, Name: store.CreatorCLI}

// recordOperator writes what the operator changed (a management command,
// the bootstrap token) to the account's activity log; a failure to write
// it is only warned about.
func recordOperator(ctx context.Context, st store.Store, e *store.ActivityEntry, by store.Actor, err error) {
	e.Actor = by
	e.Outcome = store.OutcomeOK
	if err != nil {
		e.Outcome, e.Detail = store.OutcomeRefused, "internal error"
		if f, ok := failure.As(err); ok {
			e.Detail = f.Detail
		}
	}
	if aerr := st.AddActivity(ctx, e); aerr != nil {
		fmt.Fprintln(os.Stderr, "timecamp-scim: warning: could not write the activity log:", aerr)
	}
}

// admins lists an account's console bindings, and releases one when an
// administrator's identity at the sign-in provider changed (their next
// sign-in binds the new identity, by their verified email).
func admins(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "unbind") {
		return usageError{"admins: give list or unbind"}
	}
	c := newCommand("admins "+args[0], stderr)
	account := c.fs.String("account", "", "account id or name (required)")
	st, a, err := c.openAccount(ctx, args[1:], account)
	if err != nil {
		return err
	}
	defer st.Close(context.Background())
	if args[0] == "list" {
		if len(c.args) != 0 {
			return usageError{"admins list: takes no arguments besides --account"}
		}
		list, err := st.AccountBindings(ctx, a.ID)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USER\tUSERNAME\tSIGN-IN IDENTITY (ISSUER SUBJECT)\tBOUND WITH EMAIL\tBOUND")
		for _, b := range list {
			userName := "(deleted)"
			if u, err := st.Get(ctx, schemas.User, a.ID, b.User); err == nil {
				userName = fmt.Sprint(u.Attributes["userName"])
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", b.User, userName, b.Subject, b.Email, b.Created.Format(timeLayout))
		}
		return tw.Flush()
	}
	if len(c.args) != 1 {
		return usageError{"admins unbind: give the user (id or userName) whose sign-in identity to release"}
	}
	u, err := findUser(ctx, st, a.ID, c.args[0])
	if err != nil {
		return err
	}
	err = st.Unbind(ctx, a.ID, u.ID)
	userName := fmt.Sprint(u.Attributes["userName"])
	recordOperator(ctx, st, &store.ActivityEntry{Account: a.ID, ResourceType: "User", ResourceID: u.ID, Resource: userName, Operation: "unbind sign-in identity"}, cli, err)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s is no longer bound to a sign-in identity: their sessions end, and their next sign-in (with a verified email %s) binds the identity they sign in with\n", userName, userName)
	return nil
}

// findAccount accepts an account id or name.
func findAccount(ctx context.Context, st store.Store, ref string) (*store.Account, error) {
	a, err := st.Account(ctx, ref)
	if failure.Is(err, failure.NotFound) {
		return st.AccountByName(ctx, ref)
	}
	return a, err
}
