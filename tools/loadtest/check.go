package main

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// The questions "check" asks: what RFC 7643/7644 require, where servers
// have been seen to answer wrongly. Each runs on a server that holds no
// users named check-…@acme.test yet.

const enterpriseURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

type checkResult struct {
	name, rfc string
	ok        bool
	got       string
}

func checkCmd(args []string) error {
	fs := flag.NewFlagSet("check", flag.ExitOnError)
	base := fs.String("url", "", "the SCIM base URL")
	token := fs.String("token", os.Getenv("SCIM_TOKEN"), "bearer token (default $SCIM_TOKEN)")
	_ = fs.Parse(args)
	if *base == "" {
		return errors.New("check: -url is required")
	}
	rs, err := runChecks(newClient(*base, *token, 1))
	if err != nil {
		return err
	}
	for _, r := range rs {
		fmt.Println(r)
	}
	return nil
}

func (r checkResult) String() string {
	v := "right"
	if !r.ok {
		v = "WRONG"
	}
	return fmt.Sprintf("%-5s %-55s (%s): %s", v, r.name, r.rfc, r.got)
}

func runChecks(c *client) ([]checkResult, error) {
	var out []checkResult
	add := func(name, rfc string, ok bool, got string, args ...any) {
		out = append(out, checkResult{name, rfc, ok, fmt.Sprintf(got, args...)})
	}
	body := userBody("check-alice@acme.test", 0)
	body["schemas"] = []string{"urn:ietf:params:scim:schemas:core:2.0:User", enterpriseURN}
	body[enterpriseURN] = map[string]any{"employeeNumber": "E-1001", "department": "Finance"}
	body["emails"] = []any{map[string]any{"value": "alice.work@acme.test", "type": "work", "primary": true}}
	var alice struct {
		ID string `json:"id"`
	}
	if _, err := c.do("POST", "/Users", body, 201, &alice); err != nil {
		return nil, err
	}
	var bob struct {
		ID string `json:"id"`
	}
	if _, err := c.do("POST", "/Users", userBody("check-bob@acme.test", 1), 201, &bob); err != nil {
		return nil, err
	}
	count := func(filter string) (int, int, error) {
		var list struct {
			Total int   `json:"totalResults"`
			Res   []any `json:"Resources"`
		}
		status, err := c.do("GET", "/Users?filter="+url.QueryEscape(filter), nil, 0, &list)
		return status, list.Total, err
	}
	for _, q := range []struct{ name, rfc, filter string }{
		{"userName matched without regard to case", "RFC 7643 §4.1.1 (caseExact false)", `userName eq "CHECK-ALICE@ACME.TEST"`},
		{"emails.value eq finds the user", "RFC 7644 §3.4.2.2", `emails.value eq "alice.work@acme.test"`},
		{"emails[type eq \"work\"].value filter", "RFC 7644 §3.4.2.2", `emails[type eq "work" and value eq "alice.work@acme.test"]`},
		{"an enterprise-extension attribute in a filter", "RFC 7644 §3.4.2.2 (attribute by URN)", enterpriseURN + `:employeeNumber eq "E-1001"`},
	} {
		status, n, err := count(q.filter)
		switch {
		case err != nil:
			add(q.name, q.rfc, false, "status %d, %v", status, err)
		default:
			add(q.name, q.rfc, status == 200 && n == 1, "status %d, %d results (want 1)", status, n)
		}
	}
	status, _, _ := count(`userName eq`)
	add("an invalid filter is refused", "RFC 7644 §3.4.2.2, §3.12 (400 invalidFilter)", status == 400, "status %d (want 400)", status)

	var g struct {
		ID string `json:"id"`
	}
	if _, err := c.do("POST", "/Groups", map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Check group",
		"members": []any{map[string]any{"value": alice.ID}, map[string]any{"value": bob.ID}},
	}, 201, &g); err != nil {
		return nil, err
	}
	var without map[string]any
	if status, err := c.do("GET", "/Groups/"+g.ID+"?excludedAttributes=members", nil, 200, &without); err != nil {
		add("excludedAttributes=members leaves the members out", "RFC 7644 §3.9", false, "status %d, %v", status, err)
	} else {
		_, has := without["members"]
		add("excludedAttributes=members leaves the members out", "RFC 7644 §3.9", !has, "members returned: %v", has)
	}
	var only map[string]any
	if status, err := c.do("GET", "/Users/"+alice.ID+"?attributes=userName", nil, 200, &only); err != nil {
		add("attributes=userName returns userName and id only", "RFC 7644 §3.9", false, "status %d, %v", status, err)
	} else {
		var extra []string
		for k := range only {
			switch strings.ToLower(k) {
			case "username", "id", "schemas":
			default:
				extra = append(extra, k)
			}
		}
		add("attributes=userName returns userName and id only", "RFC 7644 §3.9", len(extra) == 0, "other attributes: %v", extra)
	}
	var last struct {
		Total int   `json:"totalResults"`
		Items int   `json:"itemsPerPage"`
		Res   []any `json:"Resources"`
	}
	if _, err := c.do("GET", "/Users?filter="+url.QueryEscape(`userName eq "check-bob@acme.test"`)+"&count=10", nil, 200, &last); err == nil {
		add("itemsPerPage is the number of resources returned", "RFC 7644 §3.4.2 (itemsPerPage)", last.Items == len(last.Res), "itemsPerPage %d, %d resources", last.Items, len(last.Res))
	}
	return out, nil
}
