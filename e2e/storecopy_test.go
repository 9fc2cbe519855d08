package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

// An account provisioned on the embedded database moves to MongoDB with
// "store copy", and the identity provider's next GET and PATCH work there
// unchanged: same token, same ids, same versions.
func TestStoreCopyToMongoDB(t *testing.T) {
	uri, err := storetest.URI()
	if err != nil {
		t.Fatalf("MongoDB for the test: %v", err)
	}
	database := storetest.DatabaseName()
	s := startServer(t)
	c := s.Client
	var ids []string
	for i := range 30 {
		ids = append(ids, c.Post(t, "/Users", scimtest.UserBody(fmt.Sprintf("mover%d@example.com", i), map[string]any{"externalId": fmt.Sprint("ext", i)})).Expect(t, http.StatusCreated).Str("id"))
	}
	gid := c.Post(t, "/Groups", scimtest.GroupBody("Movers", ids[:10]...)).Expect(t, http.StatusCreated).Str("id")
	before := c.Get(t, "/Users/"+ids[3]).Expect(t, http.StatusOK)

	out, err := s.run("store", "copy", "--to", uri, "--to-database", database)
	if err != nil {
		t.Fatalf("store copy: %v", err)
	}
	if !strings.Contains(out, "30 users") || !strings.Contains(out, "10 memberships") || !strings.Contains(out, "the counts match") {
		t.Fatalf("store copy said:\n%s", out)
	}
	// A second copy into the same database is refused.
	if _, err := s.run("store", "copy", "--to", uri, "--to-database", database); err == nil || !strings.Contains(err.Error(), "already holds") {
		t.Fatalf("a copy into a non-empty database: %v", err)
	}

	// The server now runs on MongoDB (the bootstrap token is the same
	// secret, and the copied account already accepts it).
	s.env = append(s.env, "SCIM_MONGODB_URI="+uri, "SCIM_MONGODB_DATABASE="+database)
	s.restart()
	c = s.Client
	after := c.Get(t, "/Users/"+ids[3]).Expect(t, http.StatusOK)
	if after.Str("meta.version") != before.Str("meta.version") || after.Str("meta.created") != before.Str("meta.created") || after.Str("userName") != "mover3@example.com" {
		t.Fatalf("after the move:\n%s\nbefore:\n%s", after.Raw, before.Raw)
	}
	c.Get(t, "/Users/"+ids[3], "If-None-Match: "+before.Header.Get("ETag")).Expect(t, http.StatusNotModified)
	if r := c.Get(t, "/Users?filter="+url.QueryEscape(`externalId eq "ext7"`)).Expect(t, http.StatusOK); r.At("totalResults") == nil || r.Str("Resources.0.id") != ids[7] {
		t.Fatalf("lookup by externalId after the move: %s", r.Raw)
	}
	c.Patch(t, "/Users/"+ids[3], scimtest.Op("replace", "active", false)).Expect(t, http.StatusOK)
	c.Patch(t, "/Groups/"+gid, scimtest.Op("add", "members", []any{map[string]any{"value": ids[20]}})).Expect(t, http.StatusNoContent)
	if g := c.Get(t, "/Groups/"+gid).Expect(t, http.StatusOK); len(g.At("members").([]any)) != 11 {
		t.Fatalf("group after the move: %s", g.Raw)
	}
}

// The way back, and a MongoDB store's copy into a data folder: "store
// copy --to-data-dir" writes an embedded data folder that a server starts
// from, with the same token, ids and versions, and that "accounts check"
// finds consistent.
func TestStoreCopyFromMongoDBToDataFolder(t *testing.T) {
	uri, err := storetest.URI()
	if err != nil {
		t.Fatalf("MongoDB for the test: %v", err)
	}
	s := startServer(t, "SCIM_MONGODB_URI="+uri, "SCIM_MONGODB_DATABASE="+storetest.DatabaseName())
	c := s.Client
	ids := c.CreateUsers(t, 25, "back")
	gid := c.Post(t, "/Groups", scimtest.GroupBody("Returners", ids[:5]...)).Expect(t, http.StatusCreated).Str("id")
	c.Patch(t, "/Users/"+ids[2], scimtest.Op("replace", "name.givenName", "Copied")).Expect(t, http.StatusOK)
	before := c.Get(t, "/Users/"+ids[2]).Expect(t, http.StatusOK)

	dir := t.TempDir() + "/copy"
	out, err := s.run("store", "copy", "--to-data-dir", dir)
	if err != nil {
		t.Fatalf("store copy --to-data-dir: %v", err)
	}
	if !strings.Contains(out, "25 users") || !strings.Contains(out, "5 memberships") || !strings.Contains(out, "SCIM_DATA_DIR="+dir) {
		t.Fatalf("store copy said:\n%s", out)
	}
	if _, err := s.run("store", "copy", "--to-data-dir", dir); err == nil || !strings.Contains(err.Error(), "already holds") {
		t.Fatalf("a second copy into the folder: %v", err)
	}

	e := &server{t: t, dataDir: dir, token: s.token}
	e.start()
	defer e.stop()
	if out, err := e.run("accounts", "check", "default"); err != nil {
		t.Fatalf("accounts check on the copy: %v\n%s", err, out)
	}
	ec := e.Client
	after := ec.Get(t, "/Users/"+ids[2]).Expect(t, http.StatusOK)
	if after.Str("meta.version") != before.Str("meta.version") || after.Str("name.givenName") != "Copied" {
		t.Fatalf("after the copy:\n%s\nbefore:\n%s", after.Raw, before.Raw)
	}
	ec.Patch(t, "/Groups/"+gid, scimtest.Op("add", "members", []any{map[string]any{"value": ids[20]}})).Expect(t, http.StatusNoContent)
	ec.Post(t, "/Users", scimtest.UserBody("new-on-the-copy@example.com")).Expect(t, http.StatusCreated)
}
