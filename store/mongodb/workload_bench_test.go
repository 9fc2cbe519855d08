package mongodb_test

// The workloads of issue 12 on the MongoDB store, on FerretDB's PostgreSQL
// backend (a private cluster; skipped when PostgreSQL is not installed),
// through the real SCIM HTTP handler, and the raw driver doing the
// database's share of Entra-style provisioning in the same run:
//
//	go test ./store/mongodb -run '^$' -bench Workload -benchtime 1000x -v
//
// With -v each benchmark logs where its round trips went (command,
// collection, count per operation, mean time).

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

// concurrency is how many clients send requests at once (as the issue's
// load tool does).
const concurrency = 4

func parallel(b *testing.B) {
	b.SetParallelism(max(1, concurrency/runtime.GOMAXPROCS(0)))
}

func perSecond(b *testing.B, unit string) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
}

// entraUser is the body Entra ID sends to create a user.
func entraUser(userName string, i int) map[string]any {
	return map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"},
		"externalId":  fmt.Sprintf("ext-%d", i),
		"userName":    userName,
		"active":      "True",
		"displayName": fmt.Sprintf("User %d", i),
		"emails":      []any{map[string]any{"primary": true, "type": "work", "value": userName}},
		"name":        map[string]any{"formatted": fmt.Sprintf("User %d", i), "familyName": fmt.Sprint(i), "givenName": "User"},
		"roles":       []any{},
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"department": "Sales"},
	}
}

// BenchmarkWorkloadEntraProvisioning is Entra ID's create cycle, per user:
// GET /Users?filter=userName eq "…" (a miss), then POST /Users, through the
// server ("server-users/s"); and the database's share of it with the raw
// driver ("driver-users/s"): a find by {account, userNameLower} and the
// insert of a user document, on the same FerretDB. Each creates b.N users
// with 4 clients at once, in alternating rounds of 50 users, so that both
// see the same machine load and the same table sizes; "ratio" is server
// over driver (the target is 0.5 or more).
func BenchmarkWorkloadEntraProvisioning(b *testing.B) {
	ctx := context.Background()
	st, log := storetest.NewMongoPostgres(b)
	c := scimtest.NewOn(b, st).Client
	client, err := mongo.Connect(options.Client().ApplyURI(st.URI()))
	if err != nil {
		b.Fatal(err)
	}
	defer client.Disconnect(ctx)
	raw := client.Database(st.DatabaseName() + "_raw").Collection("users")
	defer raw.Database().Drop(ctx)
	if _, err := raw.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "account", Value: 1}, {Key: "userNameLower", Value: 1}}, Options: options.Index().SetUnique(true)}); err != nil {
		b.Fatal(err)
	}
	account := store.NewID()
	driver := func(i int) {
		name := fmt.Sprintf("user%d@contoso.example", i)
		err := raw.FindOne(ctx, bson.D{{Key: "account", Value: account}, {Key: "userNameLower", Value: name}}).Err()
		if err != mongo.ErrNoDocuments {
			b.Fatalf("find: %v", err)
		}
		doc := bson.D{
			{Key: "_id", Value: store.NewID()}, {Key: "account", Value: account}, {Key: "version", Value: 1},
			{Key: "created", Value: time.Now()}, {Key: "modified", Value: time.Now()},
			{Key: "a", Value: storable(entraUser(name, i))}, {Key: "userNameLower", Value: name},
			{Key: "emailsLower", Value: bson.A{name}}, {Key: "externalId", Value: fmt.Sprintf("ext-%d", i)},
		}
		if _, err := raw.InsertOne(ctx, doc); err != nil {
			b.Fatalf("insert: %v", err)
		}
	}
	server := func(i int) {
		name := fmt.Sprintf("user%d@contoso.example", i)
		r := c.Get(b, "/Users?filter="+url.QueryEscape(`userName eq "`+name+`"`)).Expect(b, http.StatusOK)
		if fmt.Sprint(r.At("totalResults")) != "0" {
			b.Fatalf("lookup of a new user: %s", r.Raw)
		}
		c.Post(b, "/Users", entraUser(name, i)).Expect(b, http.StatusCreated)
	}
	// round runs users [from, to) through fn with 4 clients at once.
	round := func(from, to int, fn func(int)) time.Duration {
		var next atomic.Int64
		next.Store(int64(from))
		var wg sync.WaitGroup
		t0 := time.Now()
		for range concurrency {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1) - 1); i < to; i = int(next.Add(1) - 1) {
					fn(i)
				}
			}()
		}
		wg.Wait()
		return time.Since(t0)
	}
	const roundSize = 50
	before := log.Len()
	var tDriver, tServer time.Duration
	b.ResetTimer()
	for from := 0; from < b.N; from += roundSize {
		to := min(from+roundSize, b.N)
		tDriver += round(from, to, driver)
		tServer += round(from, to, server)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/tDriver.Seconds(), "driver-users/s")
	b.ReportMetric(float64(b.N)/tServer.Seconds(), "server-users/s")
	b.ReportMetric(tDriver.Seconds()/tServer.Seconds(), "ratio")
	breakdown(b, log.Commands()[before:])
}

// BenchmarkWorkloadLookup is GET /Users?filter=userName eq "…" finding one
// of 1,000 users, one client at a time.
func BenchmarkWorkloadLookup(b *testing.B) {
	const users = 1000
	st, log := storetest.NewMongoPostgres(b)
	c := scimtest.NewOn(b, st).Client
	c.CreateUsers(b, users, "u")
	before := log.Len()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		name := fmt.Sprintf("U%d@EXAMPLE.COM", (i*37)%users)
		r := c.Get(b, "/Users?filter="+url.QueryEscape(`userName eq "`+name+`"`)).Expect(b, http.StatusOK)
		if fmt.Sprint(r.At("totalResults")) != "1" {
			b.Fatalf("lookup %s: %s", name, r.Raw)
		}
	}
	breakdown(b, log.Commands()[before:])
}

// BenchmarkWorkloadPage is GET /Users?startIndex=…&count=100 over an
// account of 1,000 users.
func BenchmarkWorkloadPage(b *testing.B) {
	const users = 1000
	st, log := storetest.NewMongoPostgres(b)
	c := scimtest.NewOn(b, st).Client
	c.CreateUsers(b, users, "u")
	before := log.Len()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		start := 1 + (i*100)%users
		r := c.Get(b, fmt.Sprintf("/Users?startIndex=%d&count=100", start)).Expect(b, http.StatusOK)
		if n := len(r.At("Resources").([]any)); n != 100 {
			b.Fatalf("page of %d", n)
		}
	}
	breakdown(b, log.Commands()[before:])
}

// BenchmarkWorkloadPatchUser replaces givenName and active of users of an
// account of 1,000, concurrently.
func BenchmarkWorkloadPatchUser(b *testing.B) {
	const users = 1000
	st, log := storetest.NewMongoPostgres(b)
	c := scimtest.NewOn(b, st).Client
	ids := c.CreateUsers(b, users, "u")
	var next atomic.Int64
	before := log.Len()
	parallel(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1))
			c.Patch(b, "/Users/"+ids[i%users],
				scimtest.Op("replace", "name.givenName", fmt.Sprintf("Given %d", i)),
				scimtest.Op("replace", "active", i%2 == 0),
			).Expect(b, http.StatusOK)
		}
	})
	perSecond(b, "patches/s")
	breakdown(b, log.Commands()[before:])
}

// BenchmarkWorkloadAddMember adds one member per PATCH to a group that
// grows from 0 to b.N members; "first10%" and "last10%" are the mean
// times of the first and last tenth, which must be alike.
func BenchmarkWorkloadAddMember(b *testing.B) {
	st, log := storetest.NewMongoPostgres(b)
	c := scimtest.NewOn(b, st).Client
	ids := c.CreateUsers(b, b.N, "m")
	group := c.Post(b, "/Groups", scimtest.GroupBody("Growing")).Expect(b, http.StatusCreated).Str("id")
	times := make([]time.Duration, 0, b.N)
	before := log.Len()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		c.Patch(b, "/Groups/"+group, scimtest.Op("add", "members", []any{map[string]any{"value": ids[i]}})).Expect(b, http.StatusNoContent)
		times = append(times, time.Since(t0))
	}
	b.StopTimer()
	if tenth := b.N / 10; tenth > 0 {
		b.ReportMetric(float64(mean(times[:tenth]).Microseconds())/1000, "first10%-ms")
		b.ReportMetric(float64(mean(times[b.N-tenth:]).Microseconds())/1000, "last10%-ms")
	}
	breakdown(b, log.Commands()[before:])
}

// BenchmarkWorkloadGetGroup is GET /Groups/{id} of a group of 1,000
// members, with them.
func BenchmarkWorkloadGetGroup(b *testing.B) {
	const members = 1000
	st, log := storetest.NewMongoPostgres(b)
	c := scimtest.NewOn(b, st).Client
	ids := c.CreateUsers(b, members, "g")
	group := c.Post(b, "/Groups", scimtest.GroupBody("Big", ids...)).Expect(b, http.StatusCreated).Str("id")
	before := log.Len()
	b.ResetTimer()
	for b.Loop() {
		r := c.Get(b, "/Groups/"+group).Expect(b, http.StatusOK)
		if n := len(r.At("members").([]any)); n != members {
			b.Fatalf("%d members", n)
		}
	}
	breakdown(b, log.Commands()[before:])
}

// storable renames the keys MongoDB refuses (extension URNs hold dots), as
// the store does.
func storable(attrs map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range attrs {
		out[strings.ReplaceAll(k, ".", "_")] = v
	}
	return out
}

func mean(ds []time.Duration) time.Duration {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}

// breakdown logs, per command and collection, how many were sent per
// operation and how long the database took on average.
func breakdown(b *testing.B, cmds []storetest.Command) {
	type agg struct {
		n   int
		sum time.Duration
	}
	by := map[string]*agg{}
	var total time.Duration
	for _, c := range cmds {
		k := c.Name + " " + c.Collection
		if by[k] == nil {
			by[k] = &agg{}
		}
		by[k].n++
		by[k].sum += c.Duration
		total += c.Duration
	}
	keys := make([]string, 0, len(by))
	for k := range by {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return by[keys[i]].sum > by[keys[j]].sum })
	var lines []string
	for _, k := range keys {
		a := by[k]
		lines = append(lines, fmt.Sprintf("  %-24s %5.2f per op, mean %7.3f ms", k, float64(a.n)/float64(b.N), float64(a.sum.Microseconds())/1000/float64(a.n)))
	}
	b.Logf("N=%d: %.1f commands per op, %.2f ms of database time per op\n%s", b.N, float64(len(cmds))/float64(b.N), float64(total.Microseconds())/1000/float64(b.N), strings.Join(lines, "\n"))
}
