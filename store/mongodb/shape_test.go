package mongodb_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

// TestCheckCommand holds the query-shape check itself to account: the
// shapes it must let through, and those it must refuse.
func TestCheckCommand(t *testing.T) {
	cases := []struct {
		name, cmd, coll string
		body            bson.D
		bad             bool
	}{
		{"lookup by userName", "find", "users", bson.D{{Key: "filter", Value: bson.D{{Key: "account", Value: "a"}, {Key: "userNameLower", Value: "x"}}}}, false},
		{"page of an account", "find", "users", bson.D{{Key: "filter", Value: bson.D{{Key: "account", Value: "a"}}}}, false},
		{"ids of an account", "find", "groups", bson.D{{Key: "filter", Value: bson.D{{Key: "account", Value: "a"}, {Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{"1", "2"}}}}}}}, false},
		{"nested narrowing", "find", "users", bson.D{{Key: "filter", Value: bson.D{{Key: "account", Value: "a"}, {Key: "n.title", Value: "x"}}}}, false},
		{"members of a group", "find", "memberships", bson.D{{Key: "filter", Value: bson.D{{Key: "account", Value: "a"}, {Key: "group", Value: "g"}}}}, false},
		{"accept link", "find", "users", bson.D{{Key: "filter", Value: bson.D{{Key: "inv.hash", Value: "h"}}}}, false},
		{"not a scoped collection", "find", "accounts", bson.D{{Key: "filter", Value: bson.D{{Key: "_id", Value: "a"}}}}, false},
		{"conditional write", "update", "users", bson.D{{Key: "updates", Value: bson.A{bson.D{{Key: "q", Value: bson.D{{Key: "account", Value: "a"}, {Key: "_id", Value: "1"}, {Key: "version", Value: 3}}}}}}}, false},

		{"no account", "find", "users", bson.D{{Key: "filter", Value: bson.D{{Key: "userNameLower", Value: "x"}}}}, true},
		{"id alone", "delete", "memberships", bson.D{{Key: "deletes", Value: bson.A{bson.D{{Key: "q", Value: bson.D{{Key: "_id", Value: "g/m"}}}}}}}, true},
		{"account in $in", "find", "users", bson.D{{Key: "filter", Value: bson.D{{Key: "account", Value: bson.D{{Key: "$in", Value: bson.A{"a"}}}}}}}, true},
		{"unindexed flat key", "find", "users", bson.D{{Key: "filter", Value: bson.D{{Key: "account", Value: "a"}, {Key: "version", Value: 2}}}}, true},
		{"needless $and", "find", "users", bson.D{{Key: "filter", Value: bson.D{{Key: "$and", Value: bson.A{bson.D{{Key: "account", Value: "a"}}, bson.D{{Key: "userNameLower", Value: "x"}}}}}}}, true},
		{"count without account", "aggregate", "groups", bson.D{{Key: "pipeline", Value: bson.A{bson.D{{Key: "$match", Value: bson.D{}}}}}}, true},
		{"findAndModify by id", "findAndModify", "groups", bson.D{{Key: "query", Value: bson.D{{Key: "_id", Value: "1"}}}}, true},
		{"insert without account", "insert", "memberships", bson.D{{Key: "documents", Value: bson.A{bson.D{{Key: "_id", Value: "g/m"}}}}}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body, err := bson.Marshal(append(bson.D{{Key: c.cmd, Value: c.coll}}, c.body...))
			if err != nil {
				t.Fatal(err)
			}
			problems := storetest.CheckCommand(storetest.Command{Name: c.cmd, Collection: c.coll, Body: body})
			if got := len(problems) > 0; got != c.bad {
				t.Errorf("problems = %q, want bad = %v", problems, c.bad)
			}
		})
	}
}

// TestCommandLogSeesTheDriver makes sure the check runs on what the driver
// really sends: a query without the account, sent through a client with
// the log's monitor, is caught.
func TestCommandLogSeesTheDriver(t *testing.T) {
	st, _ := storetest.NewMongoLogged(t)
	log := storetest.NewCommandLog(st.DatabaseName())
	client, err := mongo.Connect(options.Client().ApplyURI(st.URI()).SetMonitor(log.Monitor()))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(context.Background())
	ctx := context.Background()
	if err := client.Database(st.DatabaseName()).Collection("users").FindOne(ctx, bson.D{{Key: "userNameLower", Value: "x"}}).Err(); err != mongo.ErrNoDocuments {
		t.Fatalf("find: %v", err)
	}
	if p := log.Problems(); len(p) != 1 || !strings.Contains(p[0], "no account") {
		t.Fatalf("problems = %q, want the missing account", p)
	}
}

// TestIdentityProviderQueryShapes drives the SCIM server over HTTP, as
// Entra ID and Okta do (lookups by userName, externalId, email and
// displayName, creates, PATCHes, group pushes, paging, deletes), on a
// MongoDB store whose every command is checked (see
// storetest.CheckCommand): each names its account and is served by a
// declared index. It also checks that the lookups reach the flat lookup
// keys.
func TestIdentityProviderQueryShapes(t *testing.T) {
	st, log := storetest.NewMongoLogged(t)
	env := scimtest.NewOn(t, st)
	c := env.Client
	users := func(filter string) string { return "/Users?filter=" + url.QueryEscape(filter) }
	groups := func(filter string) string {
		return "/Groups?excludedAttributes=members&filter=" + url.QueryEscape(filter)
	}

	project := c.Post(t, "/Projects", map[string]any{
		"schemas":     []string{"urn:timecamp:params:scim:schemas:core:2.0:Project"},
		"displayName": "Apollo",
	}).Expect(t, http.StatusCreated).Str("id")

	var ids []string
	for i := range 3 {
		name := fmt.Sprintf("user%d@contoso.example", i)
		c.Get(t, users(`userName eq "`+name+`"`)).Expect(t, http.StatusOK)
		ids = append(ids, c.Post(t, "/Users", scimtest.UserBody(name, map[string]any{
			"externalId":  fmt.Sprintf("ext-%d", i),
			"displayName": fmt.Sprintf("User %d", i),
			"emails":      []any{map[string]any{"value": name, "type": "work", "primary": true}},
			"urn:ietf:params:scim:schemas:extension:timecamp:2.0:User": map[string]any{
				"projects": []any{map[string]any{"value": project}},
			},
		})).Expect(t, http.StatusCreated).Str("id"))
	}
	for _, path := range []string{
		users(`userName eq "USER1@contoso.example"`),
		users(`externalId eq "ext-1"`),
		users(`emails[type eq "work"].value eq "user1@contoso.example"`),
		users(`emails.value eq "user1@contoso.example"`),
		users(`displayName eq "User 1"`),
		users(`userName eq "user0@contoso.example" or userName eq "user2@contoso.example"`),
		users(`id eq "` + ids[1] + `"`),
		"/Users?startIndex=1&count=2",
		"/Users/" + ids[1],
	} {
		c.Get(t, path).Expect(t, http.StatusOK)
	}
	c.Patch(t, "/Users/"+ids[1],
		scimtest.Op("replace", "name.givenName", "Babs"),
		scimtest.Op("replace", "active", false),
	).Expect(t, http.StatusOK)
	c.Put(t, "/Users/"+ids[2], scimtest.UserBody("user2@contoso.example", map[string]any{"externalId": "ext-2b"})).Expect(t, http.StatusOK)

	c.Get(t, groups(`displayName eq "Engineering"`)).Expect(t, http.StatusOK)
	group := c.Post(t, "/Groups", scimtest.GroupBody("Engineering", ids[0])).Expect(t, http.StatusCreated).Str("id")
	c.Patch(t, "/Groups/"+group, scimtest.Op("add", "members", []any{map[string]any{"value": ids[1]}})).Expect(t, http.StatusNoContent)
	c.Patch(t, "/Groups/"+group, scimtest.Op("remove", `members[value eq "`+ids[0]+`"]`, nil)).Expect(t, http.StatusNoContent)
	c.Patch(t, "/Groups/"+group, scimtest.Op("replace", "members", []any{map[string]any{"value": ids[2]}})).Expect(t, http.StatusNoContent)
	for _, path := range []string{
		groups(`displayName eq "engineering"`),
		"/Groups?excludedAttributes=members&filter=" + url.QueryEscape(`members[value eq "`+ids[2]+`"]`),
		"/Groups/" + group,
		"/Groups?startIndex=1&count=10",
	} {
		c.Get(t, path).Expect(t, http.StatusOK)
	}
	c.Delete(t, "/Projects/"+project).Expect(t, http.StatusNoContent)
	c.Delete(t, "/Users/"+ids[2]).Expect(t, http.StatusNoContent)
	c.Delete(t, "/Groups/"+group).Expect(t, http.StatusNoContent)

	if p := log.Problems(); len(p) > 0 {
		t.Fatalf("%d queries of the wrong shape:\n%s", len(p), strings.Join(p, "\n"))
	}
	// The lookups reached the flat keys (and the check saw them).
	sent := map[string]bool{}
	for _, cmd := range log.Commands() {
		if cmd.Name != "find" {
			continue
		}
		var body struct {
			Filter bson.D `bson:"filter"`
		}
		if err := bson.Unmarshal(cmd.Body, &body); err != nil {
			t.Fatal(err)
		}
		for _, e := range body.Filter {
			sent[cmd.Collection+"."+e.Key] = true
		}
	}
	for _, want := range []string{"users.userNameLower", "users.externalId", "users.emailsLower", "users.displayNameLower", "users.projectIds", "groups.displayNameLower", "memberships.member"} {
		if !sent[want] {
			t.Errorf("no find on %s; sent: %v", want, sent)
		}
	}
}
