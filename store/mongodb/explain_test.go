package mongodb_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/timecamp/timecamp-scim/scim"
	"github.com/timecamp/timecamp-scim/scim/scimtest"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

// TestIdentityProviderQueriesUseIndexes runs the requests identity
// providers send — Entra ID's lookup and create, a page of users, a PATCH
// of a user, adding a member to a group, a GET of a group with its
// members, a Bulk import — over an account of 3,000 users on an engine
// that uses indexes (SCIM_TEST_MONGODB_URI: MongoDB, FerretDB 2 with
// DocumentDB), and asks the database to explain every query they sent:
// each must be answered from an index, none by reading a collection
// whole. (FerretDB 1.x scans by design: skipped there.)
func TestIdentityProviderQueriesUseIndexes(t *testing.T) {
	if storetest.OnFerretDB() {
		t.Skip("SCIM_TEST_MONGODB_URI is not set: FerretDB 1.x answers every query by a scan")
	}
	ctx := context.Background()
	st, log := storetest.NewMongoLogged(t)
	c := scimtest.NewOn(t, st).Client
	ids := make([]string, 0, 3000)
	for start := 0; start < 3000; start += scim.BulkMaxOperations {
		ops := make([]any, 0, scim.BulkMaxOperations)
		for i := start; i < start+scim.BulkMaxOperations; i++ {
			ops = append(ops, map[string]any{"method": "POST", "path": "/Users", "bulkId": fmt.Sprint(i), "data": entraUser(fmt.Sprintf("user%d@contoso.example", i), i)})
		}
		r := c.Post(t, "/Bulk", map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:BulkRequest"}, "Operations": ops}).Expect(t, http.StatusOK)
		for _, res := range r.At("Operations").([]any) {
			loc := res.(map[string]any)["location"].(string)
			ids = append(ids, loc[strings.LastIndex(loc, "/")+1:])
		}
	}
	group := c.Post(t, "/Groups", scimtest.GroupBody("Big", ids[:1000]...)).Expect(t, http.StatusCreated).Str("id")

	before := log.Len()
	c.Get(t, "/Users?filter="+url.QueryEscape(`userName eq "new@contoso.example"`)).Expect(t, http.StatusOK)
	c.Post(t, "/Users", entraUser("new@contoso.example", 9999)).Expect(t, http.StatusCreated)
	c.Get(t, "/Users?filter="+url.QueryEscape(`userName eq "user42@contoso.example"`)).Expect(t, http.StatusOK)
	c.Get(t, "/Users?filter="+url.QueryEscape(`externalId eq "ext-43"`)).Expect(t, http.StatusOK)
	c.Get(t, "/Users?startIndex=1501&count=100").Expect(t, http.StatusOK)
	c.Patch(t, "/Users/"+ids[2000], scimtest.Op("replace", "name.givenName", "Babs"), scimtest.Op("replace", "active", false)).Expect(t, http.StatusOK)
	c.Patch(t, "/Users/"+ids[10], scimtest.Op("replace", "displayName", "Renamed")).Expect(t, http.StatusOK)
	c.Patch(t, "/Groups/"+group, scimtest.Op("add", "members", []any{map[string]any{"value": ids[2001]}})).Expect(t, http.StatusNoContent)
	c.Patch(t, "/Groups/"+group, scimtest.Op("remove", fmt.Sprintf("members[value eq %q]", ids[3]), nil)).Expect(t, http.StatusNoContent)
	c.Get(t, "/Groups/"+group).Expect(t, http.StatusOK)
	c.Get(t, "/Groups?filter="+url.QueryEscape(`displayName eq "Big"`)+"&excludedAttributes=members").Expect(t, http.StatusOK)
	c.Delete(t, "/Users/"+ids[2002]).Expect(t, http.StatusNoContent)
	ops := []any{}
	for i := range 100 {
		ops = append(ops, map[string]any{"method": "POST", "path": "/Users", "bulkId": fmt.Sprint(i), "data": entraUser(fmt.Sprintf("bulk%d@contoso.example", i), i)})
	}
	c.Post(t, "/Bulk", map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:BulkRequest"}, "Operations": ops}).Expect(t, http.StatusOK)

	client, err := mongo.Connect(options.Client().ApplyURI(st.URI()))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(ctx)
	db := client.Database(st.DatabaseName())
	explained := map[string]bool{}
	for _, cmd := range log.Commands()[before:] {
		for _, q := range queriesOf(t, cmd) {
			key := fmt.Sprintf("%s %s %v", cmd.Name, cmd.Collection, shape(q.filter))
			if explained[key] {
				continue
			}
			explained[key] = true
			find := bson.D{{Key: "find", Value: cmd.Collection}, {Key: "filter", Value: q.filter}}
			if q.sort != nil {
				find = append(find, bson.E{Key: "sort", Value: q.sort})
			}
			var plan bson.M
			if err := db.RunCommand(ctx, bson.D{{Key: "explain", Value: find}, {Key: "verbosity", Value: "queryPlanner"}}).Decode(&plan); err != nil {
				t.Fatalf("explain %s: %v", key, err)
			}
			if scan := scans(plan); scan != "" || !usesIndex(plan) {
				t.Errorf("%s is not answered from an index (%s): %v", key, scan, plan["queryPlanner"])
			}
		}
	}
	t.Logf("%d query shapes explained, each answered from an index", len(explained))
}

type query struct{ filter, sort bson.D }

// queriesOf returns the filters (with their sort) of a command that reads
// or writes existing documents.
func queriesOf(t *testing.T, c storetest.Command) []query {
	var cmd bson.D
	if err := bson.Unmarshal(c.Body, &cmd); err != nil {
		t.Fatal(err)
	}
	get := func(d bson.D, name string) bson.D {
		for _, e := range d {
			if e.Key == name {
				v, _ := e.Value.(bson.D)
				return v
			}
		}
		return nil
	}
	switch c.Name {
	case "find":
		return []query{{get(cmd, "filter"), get(cmd, "sort")}}
	case "count":
		return []query{{filter: get(cmd, "query")}}
	case "findAndModify":
		return []query{{get(cmd, "query"), get(cmd, "sort")}}
	case "update", "delete":
		var out []query
		for _, e := range cmd {
			if e.Key == c.Name+"s" {
				for _, s := range e.Value.(bson.A) {
					out = append(out, query{filter: get(s.(bson.D), "q")})
				}
			}
		}
		return out
	}
	return nil
}

// shape is a filter's fields and operators, without its values.
func shape(f bson.D) []string {
	var out []string
	for _, e := range f {
		s := e.Key
		if d, ok := e.Value.(bson.D); ok && len(d) > 0 && strings.HasPrefix(d[0].Key, "$") {
			s += d[0].Key
		}
		out = append(out, s)
	}
	return out
}

// scans names a stage of a plan that reads more than an index picks out:
// MongoDB's COLLSCAN, PostgreSQL's Seq Scan, DocumentDB's scan of its
// primary key on the shard key alone (every document of an unsharded
// collection has the same), and a PostgreSQL scan that filters the rows an
// index gave on a field other than the account (an account read whole to
// find a few).
func scans(v any) string {
	switch x := v.(type) {
	case bson.M:
		if cond, ok := x["Index Cond"].(string); ok && strings.Contains(cond, "shard_key_value") && !strings.Contains(cond, "object_id") && !strings.Contains(cond, "document") {
			return "an index scan of every document: " + cond
		}
		if _, isScan := x["Relation Name"]; isScan {
			conds := indexConds(x)
			if !strings.Contains(conds, "object_id") {
				filter, _ := x["Filter"].(string)
				for _, f := range bsonFields(filter) {
					if f != "account" && !slices.Contains(bsonFields(conds), f) {
						return fmt.Sprintf("%s filtered after the index (%s)", f, conds)
					}
				}
			}
		}
		for k, el := range x {
			if s, ok := el.(string); ok && (k == "stage" || k == "Node Type") && (s == "COLLSCAN" || s == "Seq Scan") {
				return s
			}
			if s := scans(el); s != "" {
				return s
			}
		}
	case bson.D:
		return scans(docMap(x))
	case bson.A:
		for _, el := range x {
			if s := scans(el); s != "" {
				return s
			}
		}
	case map[string]any:
		return scans(bson.M(x))
	case []any:
		return scans(bson.A(x))
	}
	return ""
}

// indexConds returns the index conditions of a PostgreSQL scan node and
// of the index scans under it.
func indexConds(v any) string {
	var out []string
	switch x := v.(type) {
	case bson.M:
		if c, ok := x["Index Cond"].(string); ok {
			out = append(out, c)
		}
		for _, el := range x {
			if s := indexConds(el); s != "" {
				out = append(out, s)
			}
		}
	case bson.D:
		return indexConds(docMap(x))
	case bson.A:
		for _, el := range x {
			if s := indexConds(el); s != "" {
				out = append(out, s)
			}
		}
	case map[string]any:
		return indexConds(bson.M(x))
	case []any:
		return indexConds(bson.A(x))
	}
	return strings.Join(out, " AND ")
}

var bsonHex = regexp.MustCompile(`BSONHEX([0-9a-f]+)`)

// bsonFields returns the fields of the BSON literals in a PostgreSQL
// condition printed by DocumentDB ('BSONHEX…'::documentdb_core.bson).
func bsonFields(cond string) []string {
	var out []string
	for _, m := range bsonHex.FindAllStringSubmatch(cond, -1) {
		raw, err := hex.DecodeString(m[1])
		if err != nil {
			continue
		}
		elems, err := bson.Raw(raw).Elements()
		if err != nil {
			continue
		}
		for _, e := range elems {
			out = append(out, e.Key())
		}
	}
	return out
}

// usesIndex reports whether a plan reads an index: MongoDB's IXSCAN,
// IDHACK or EXPRESS stages, PostgreSQL's index scans.
func usesIndex(v any) bool {
	switch x := v.(type) {
	case bson.M:
		for k, el := range x {
			if s, ok := el.(string); ok && (k == "stage" || k == "Node Type") &&
				(s == "IXSCAN" || s == "IDHACK" || strings.HasPrefix(s, "EXPRESS") || strings.Contains(s, "Index Scan") || strings.Contains(s, "Index Only Scan")) {
				return true
			}
			if usesIndex(el) {
				return true
			}
		}
	case bson.D:
		return usesIndex(docMap(x))
	case bson.A:
		for _, el := range x {
			if usesIndex(el) {
				return true
			}
		}
	case map[string]any:
		return usesIndex(bson.M(x))
	case []any:
		return usesIndex(bson.A(x))
	}
	return false
}

func docMap(d bson.D) bson.M {
	m := make(bson.M, len(d))
	for _, e := range d {
		m[e.Key] = e.Value
	}
	return m
}
