package scim_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
	"github.com/timecamp/timecamp-scim/store/mongodb"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

// With the database gone, every kind of request answers 503 with
// Retry-After and a SCIM error that says the database is unreachable —
// no driver detail — and a Bulk request that could do nothing answers
// 503 as a whole. Back on the same data, the same server answers again.
func TestDatabaseUnreachable(t *testing.T) {
	f := storetest.StartFerretDB(t)
	c := scimtest.NewOn(t, storetest.NewMongoAt(t, f.URI())).Client
	id := c.Post(t, "/Users", scimtest.UserBody("bjensen@example.com")).Expect(t, http.StatusCreated).Str("id")

	f.Kill()
	for _, req := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/Users/" + id, nil},
		{"GET", "/Users?filter=userName%20eq%20%22bjensen@example.com%22", nil},
		{"POST", "/Users", scimtest.UserBody("new@example.com")},
		{"PATCH", "/Users/" + id, scimtest.PatchBody(scimtest.Op("replace", "displayName", "B"))},
		{"DELETE", "/Users/" + id, nil},
		{"POST", "/Bulk", bulkBody(0, bulkOp("POST", "/Users", "a", scimtest.UserBody("a@example.com")), bulkOp("POST", "/Groups", "g", scimtest.GroupBody("G")))},
	} {
		start := time.Now()
		r := c.Do(t, req.method, req.path, req.body)
		took := time.Since(start)
		if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") != "5" || r.Str("status") != "503" ||
			!strings.Contains(r.Str("detail"), "database is unreachable") {
			t.Errorf("%s %s with the database down: %d, Retry-After %q: %s", req.method, req.path, r.Status, r.Header.Get("Retry-After"), r.Raw)
		}
		if strings.Contains(string(r.Raw), "127.0.0.1") || strings.Contains(string(r.Raw), "connection") {
			t.Errorf("%s %s: driver internals in %s", req.method, req.path, r.Raw)
		}
		if took > mongodb.ServerSelectionTimeout+1500*time.Millisecond {
			t.Errorf("%s %s answered after %s", req.method, req.path, took)
		}
	}

	if err := f.Restart(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for c.Get(t, "/Users/"+id).Status != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("the server did not answer again within 30s of the database's restart")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A Bulk request the database leaves half-way stops at the operation it
// could not serve: the response holds the operations processed (that one
// answered 503) and leaves out those not attempted, for the client to
// send again.
func TestBulkStopsWhenTheDatabaseGoes(t *testing.T) {
	f := storetest.StartFerretDB(t)
	c := scimtest.NewOn(t, storetest.NewMongoAt(t, f.URI())).Client
	id := c.Post(t, "/Users", scimtest.UserBody("bjensen@example.com")).Expect(t, http.StatusCreated).Str("id")
	var ops []map[string]any
	for i := range 500 {
		ops = append(ops, bulkOp("PATCH", "/Users/"+id, "", scimtest.PatchBody(scimtest.Op("replace", "displayName", fmt.Sprint("name ", i)))))
	}
	go func() {
		time.Sleep(time.Second)
		f.Kill()
	}()
	r := c.Post(t, "/Bulk", bulkBody(0, ops...))
	if r.Status == http.StatusServiceUnavailable {
		t.Skip("the database went before the first operation ran (a slow machine)")
	}
	res := results(t, r)
	if len(res) == 0 || len(res) >= len(ops) {
		t.Fatalf("%d results of %d operations", len(res), len(ops))
	}
	for i, op := range res[:len(res)-1] {
		if op["status"] != "200" {
			t.Fatalf("operation %d before the database went: %v", i+1, op)
		}
	}
	last := res[len(res)-1]
	resp, _ := last["response"].(map[string]any)
	if last["status"] != "503" || !strings.Contains(fmt.Sprint(resp["detail"]), "database is unreachable") {
		t.Fatalf("the operation the database could not serve: %v", last)
	}
	t.Logf("%d operations done, the %dth answered 503, %d left out", len(res)-1, len(res), len(ops)-len(res))
}
