package main

import (
	"context"
	"fmt"
	"io"

	"github.com/timecamp/timecamp-scim/directory"
	"github.com/timecamp/timecamp-scim/store"
)

// Exit statuses of accounts check (0: all is well; 2: usage, as every
// command).
const (
	checkProblems = 1 // problems found (or left after --repair)
	checkRepaired = 3 // problems found and all repaired
)

// checkAccount runs the account check, prints one line per problem, and
// with repair repairs and checks again.
func checkAccount(ctx context.Context, dir *directory.Service, a *store.Account, repair bool, stdout io.Writer) error {
	res, err := dir.Check(ctx, a.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %s (%d use a seat, of %s), %s, %s, %s in the outbox\n", a.Name, plural(res.Users, "user"),
		res.SeatsInUse, seatsText(a.Seats), plural(res.Groups, "group"), plural(res.Memberships, "membership"), plural(res.Outbox, "invitation email"))
	if res.Operations > 0 {
		fmt.Fprintf(stdout, "%s in flight, holding %s\n", plural(res.Operations, "operation"), plural(res.SeatsHeld, "seat"))
	}
	for _, p := range res.Problems {
		fmt.Fprintln(stdout, p)
	}
	found := len(res.Problems)
	switch {
	case found == 0:
		fmt.Fprintln(stdout, "no problems found")
		return nil
	case !repair:
		fmt.Fprintf(stdout, "%s found; \"timecamp-scim accounts check %s --repair\" repairs them\n", plural(found, "problem"), a.Name)
		return exitStatus{checkProblems}
	}
	fmt.Fprintf(stdout, "%s found; repairing\n", plural(found, "problem"))
	if err := dir.Repair(ctx, res); err != nil {
		return err
	}
	again, err := dir.Check(ctx, a.ID)
	if err != nil {
		return err
	}
	for _, p := range again.Problems {
		fmt.Fprintln(stdout, "left:", p)
	}
	if left := len(again.Problems); left > 0 {
		fmt.Fprintf(stdout, "checked again: %s left (writes in flight? check again when the account is quiet)\n", plural(left, "problem"))
		return exitStatus{checkProblems}
	}
	fmt.Fprintf(stdout, "repaired; checked again: no problems (%d seats in use)\n", again.SeatsInUse)
	return exitStatus{checkRepaired}
}

func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
