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
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/timecamp/timecamp-scim/scim"
	"github.com/timecamp/timecamp-scim/scim/scimtest"
	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/store/mongodb"
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
	breakdown(b, b.N, log.Commands()[before:])
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
	breakdown(b, b.N, log.Commands()[before:])
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
	breakdown(b, b.N, log.Commands()[before:])
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
	breakdown(b, b.N, log.Commands()[before:])
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
	breakdown(b, b.N, log.Commands()[before:])
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
	breakdown(b, b.N, log.Commands()[before:])
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
func breakdown(b *testing.B, ops int, cmds []storetest.Command) {
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
		lines = append(lines, fmt.Sprintf("  %-24s %5.2f per op, mean %7.3f ms", k, float64(a.n)/float64(ops), float64(a.sum.Microseconds())/1000/float64(a.n)))
	}
	b.Logf("%d operations: %.1f commands per op, %.2f ms of database time per op\n%s", ops, float64(len(cmds))/float64(ops), float64(total.Microseconds())/1000/float64(ops), strings.Join(lines, "\n"))
}

// The same workloads on an engine that uses indexes — MongoDB, or FerretDB
// 2 with DocumentDB (../shared/documentdb/ starts one) — at 10,000 users
// (SCIM_BENCH_USERS changes that), each beside the raw driver doing the
// database's share of it on the same database in the same run; skipped
// without SCIM_TEST_MONGODB_URI:
//
//	SCIM_TEST_MONGODB_URI=mongodb://127.0.0.1:27117/ go test ./store/mongodb -run '^$' -bench Engine -benchtime 1x -timeout 60m -v
//
// Each reports the server's and the driver's numbers ("server-…",
// "driver-…") and, where both are rates or latencies of the same work,
// their ratio; -v adds where the server's commands went.

// engineUsers is how many users the engine workloads provision.
func engineUsers(b *testing.B) int {
	if v := os.Getenv("SCIM_BENCH_USERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 {
			b.Fatalf("SCIM_BENCH_USERS=%q: want a number ≥ 100", v)
		}
		return n
	}
	return 10_000
}

// engine is a SCIM server on a fresh database of the engine, with a raw
// driver connection to the same deployment.
type engine struct {
	st      *mongodb.Store
	log     *storetest.CommandLog
	c       *scimtest.Client
	account string
	db      *mongo.Database // the server's database, for the raw driver
}

func newEngine(b *testing.B) *engine {
	b.Helper()
	if storetest.OnFerretDB() {
		b.Skip("SCIM_TEST_MONGODB_URI is not set: the engine workloads need MongoDB or FerretDB 2 with DocumentDB")
	}
	http.DefaultTransport.(*http.Transport).MaxIdleConnsPerHost = 16
	st, log := storetest.NewMongoLogged(b)
	env := scimtest.NewOn(b, st)
	client, err := mongo.Connect(options.Client().ApplyURI(st.URI()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return &engine{st: st, log: log, c: env.Client, account: env.Account.ID, db: client.Database(st.DatabaseName())}
}

// rawUser is a user document as the store writes one, for the raw driver.
func rawUser(account, name string, i int) bson.D {
	now := time.Now()
	return bson.D{
		{Key: "_id", Value: store.NewID()}, {Key: "account", Value: account}, {Key: "version", Value: int64(1)},
		{Key: "created", Value: now}, {Key: "modified", Value: now},
		{Key: "a", Value: storable(entraUser(name, i))}, {Key: "userNameLower", Value: name},
		{Key: "emailsLower", Value: bson.A{name}}, {Key: "externalId", Value: fmt.Sprintf("ext-%d", i)},
		{Key: "displayNameLower", Value: fmt.Sprintf("user %d", i)},
	}
}

// timed runs n operations with the given concurrency, each numbered, and
// returns their latencies (in the order numbered) and the time it took.
func timed(n, concurrency int, op func(i int)) ([]time.Duration, time.Duration) {
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				t := time.Now()
				op(i)
				lat[i] = time.Since(t)
			}
		}()
	}
	wg.Wait()
	return lat, time.Since(t0)
}

func p50(lat []time.Duration) time.Duration {
	s := append([]time.Duration(nil), lat...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// reportP50 reports the medians of the server's and the driver's
// latencies and their ratio.
func reportP50(b *testing.B, server, driver []time.Duration) {
	b.ReportMetric(ms(p50(server)), "server-p50-ms")
	b.ReportMetric(ms(p50(driver)), "driver-p50-ms")
	b.ReportMetric(float64(p50(server))/float64(p50(driver)), "p50-ratio")
}

// BenchmarkEngineProvisioning is Entra ID's create cycle (GET userName eq
// that finds nobody, then POST) for N users at concurrency 4, and the raw
// driver's find + insertOne of the same documents into a collection of its
// own, in alternating rounds of 100 users so that both see the same load.
// Targets: server ≥ 0.5 × driver; the last tenth's p50 ≤ 1.5 × the first's.
func BenchmarkEngineProvisioning(b *testing.B) {
	n := engineUsers(b)
	for b.Loop() {
		e := newEngine(b)
		raw := e.db.Client().Database(e.st.DatabaseName() + "_raw").Collection("users")
		b.Cleanup(func() { _ = raw.Database().Drop(context.Background()) })
		if _, err := raw.Indexes().CreateOne(context.Background(), mongo.IndexModel{Keys: bson.D{{Key: "account", Value: 1}, {Key: "userNameLower", Value: 1}}, Options: options.Index().SetUnique(true)}); err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		server := make([]time.Duration, 0, n)
		var tServer, tDriver time.Duration
		before := e.log.Len()
		const round = 100
		for from := 0; from < n; from += round {
			to := min(from+round, n)
			_, d := timed(to-from, concurrency, func(i int) {
				name := fmt.Sprintf("user%d@contoso.example", from+i)
				if err := raw.FindOne(ctx, bson.D{{Key: "account", Value: e.account}, {Key: "userNameLower", Value: name}}).Err(); err != mongo.ErrNoDocuments {
					b.Fatalf("find: %v", err)
				}
				if _, err := raw.InsertOne(ctx, rawUser(e.account, name, from+i)); err != nil {
					b.Fatalf("insert: %v", err)
				}
			})
			tDriver += d
			lat, d := timed(to-from, concurrency, func(i int) {
				name := fmt.Sprintf("user%d@contoso.example", from+i)
				r := e.c.Get(b, "/Users?filter="+url.QueryEscape(`userName eq "`+name+`"`)).Expect(b, http.StatusOK)
				if fmt.Sprint(r.At("totalResults")) != "0" {
					b.Fatalf("lookup of a new user: %s", r.Raw)
				}
				e.c.Post(b, "/Users", entraUser(name, from+i)).Expect(b, http.StatusCreated)
			})
			tServer += d
			server = append(server, lat...)
		}
		tenth := n / 10
		b.ReportMetric(float64(n)/tServer.Seconds(), "server-users/s")
		b.ReportMetric(float64(n)/tDriver.Seconds(), "driver-users/s")
		b.ReportMetric(tDriver.Seconds()/tServer.Seconds(), "ratio")
		b.ReportMetric(ms(p50(server)), "server-p50-ms")
		b.ReportMetric(ms(p50(server[:tenth])), "first10%-p50-ms")
		b.ReportMetric(ms(p50(server[n-tenth:])), "last10%-p50-ms")
		b.ReportMetric(float64(p50(server[n-tenth:]))/float64(p50(server[:tenth])), "last/first")
		breakdown(b, n, e.log.Commands()[before:])
	}
}

// engineWithUsers is an engine with N users created through Bulk; it
// returns their ids, in order of their userNames user<i>@contoso.example.
func engineWithUsers(b *testing.B, n int) (*engine, []string) {
	e := newEngine(b)
	ids := make([]string, 0, n)
	for start := 0; start < n; start += scim.BulkMaxOperations {
		ops := make([]any, 0, scim.BulkMaxOperations)
		for i := start; i < min(start+scim.BulkMaxOperations, n); i++ {
			ops = append(ops, map[string]any{"method": "POST", "path": "/Users", "bulkId": fmt.Sprint(i), "data": entraUser(fmt.Sprintf("user%d@contoso.example", i), i)})
		}
		r := e.c.Post(b, "/Bulk", map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:BulkRequest"}, "Operations": ops}).Expect(b, http.StatusOK)
		for _, res := range r.At("Operations").([]any) {
			m := res.(map[string]any)
			if m["status"] != "201" {
				b.Fatalf("bulk create: %v", m)
			}
			loc := m["location"].(string)
			ids = append(ids, loc[strings.LastIndex(loc, "/")+1:])
		}
	}
	return e, ids
}

// BenchmarkEngineLookup is GET /Users?filter=userName eq "…" finding one
// of N users, one request at a time, alternating with the raw driver's
// find-one by {account, userNameLower} on the same collection. Target:
// server p50 ≤ 3 ms.
func BenchmarkEngineLookup(b *testing.B) {
	n := engineUsers(b)
	for b.Loop() {
		e, _ := engineWithUsers(b, n)
		users := e.db.Collection("users")
		ctx := context.Background()
		const lookups = 2000
		server, driver := make([]time.Duration, lookups), make([]time.Duration, lookups)
		before := e.log.Len()
		for i := range lookups {
			name := fmt.Sprintf("user%d@contoso.example", (i*7919)%n)
			t0 := time.Now()
			r := e.c.Get(b, "/Users?filter="+url.QueryEscape(`userName eq "`+strings.ToUpper(name)+`"`)).Expect(b, http.StatusOK)
			server[i] = time.Since(t0)
			if fmt.Sprint(r.At("totalResults")) != "1" {
				b.Fatalf("lookup %s: %s", name, r.Raw)
			}
			t0 = time.Now()
			if err := users.FindOne(ctx, bson.D{{Key: "account", Value: e.account}, {Key: "userNameLower", Value: name}}).Err(); err != nil {
				b.Fatal(err)
			}
			driver[i] = time.Since(t0)
		}
		reportP50(b, server, driver)
		breakdown(b, lookups, e.log.Commands()[before:])
	}
}

// BenchmarkEnginePage is GET /Users?startIndex=…&count=100 over N users,
// 500 pages spread over the list, one at a time, alternating with the raw
// driver reading the same page (sorted by creation, one batch) and the
// total. Target: server p50 ≤ 25 ms.
func BenchmarkEnginePage(b *testing.B) {
	n := engineUsers(b)
	for b.Loop() {
		e, _ := engineWithUsers(b, n)
		users := e.db.Collection("users")
		ctx := context.Background()
		const pages = 500
		server, driver := make([]time.Duration, pages), make([]time.Duration, pages)
		before := e.log.Len()
		for i := range pages {
			start := 1 + (i*7919)%(n-100)
			t0 := time.Now()
			r := e.c.Get(b, fmt.Sprintf("/Users?startIndex=%d&count=100", start)).Expect(b, http.StatusOK)
			server[i] = time.Since(t0)
			if got := len(r.At("Resources").([]any)); got != 100 {
				b.Fatalf("a page of %d", got)
			}
			t0 = time.Now()
			q := bson.D{{Key: "account", Value: e.account}}
			cur, err := users.Find(ctx, q, options.Find().SetSort(bson.D{{Key: "created", Value: 1}, {Key: "_id", Value: 1}}).SetSkip(int64(start-1)).SetLimit(-100).SetBatchSize(100))
			if err != nil {
				b.Fatal(err)
			}
			var docs []bson.Raw
			if err := cur.All(ctx, &docs); err != nil || len(docs) != 100 {
				b.Fatalf("raw page: %d, %v", len(docs), err)
			}
			if err := e.db.RunCommand(ctx, bson.D{{Key: "count", Value: "users"}, {Key: "query", Value: q}}).Err(); err != nil {
				b.Fatal(err)
			}
			driver[i] = time.Since(t0)
		}
		reportP50(b, server, driver)
		breakdown(b, pages, e.log.Commands()[before:])
	}
}

// BenchmarkEnginePatchUser replaces name.givenName and active of each of N
// users at concurrency 4; the raw driver reads each user and replaces it on
// condition of its version, at concurrency 4. Target: server ≥ 400/s.
func BenchmarkEnginePatchUser(b *testing.B) {
	n := engineUsers(b)
	for b.Loop() {
		e, ids := engineWithUsers(b, n)
		users := e.db.Collection("users")
		ctx := context.Background()
		before := e.log.Len()
		lat, d := timed(n, concurrency, func(i int) {
			e.c.Patch(b, "/Users/"+ids[i],
				scimtest.Op("replace", "name.givenName", fmt.Sprintf("Given %d", i)),
				scimtest.Op("replace", "active", i%2 == 0),
			).Expect(b, http.StatusOK)
		})
		cmds := e.log.Commands()[before:]
		_, dd := timed(n, concurrency, func(i int) {
			var doc bson.M
			q := bson.D{{Key: "account", Value: e.account}, {Key: "_id", Value: ids[i]}}
			if err := users.FindOne(ctx, q).Decode(&doc); err != nil {
				b.Fatal(err)
			}
			v := doc["version"]
			doc["version"] = v.(int64) + 1
			if _, err := users.ReplaceOne(ctx, append(q, bson.E{Key: "version", Value: v}), doc); err != nil {
				b.Fatal(err)
			}
		})
		b.ReportMetric(float64(n)/d.Seconds(), "server-patches/s")
		b.ReportMetric(float64(n)/dd.Seconds(), "driver-patches/s")
		b.ReportMetric(dd.Seconds()/d.Seconds(), "ratio")
		b.ReportMetric(ms(p50(lat)), "server-p50-ms")
		breakdown(b, n, cmds)
	}
}

// BenchmarkEngineAddMember adds N users to a group, one PATCH each, one at
// a time, so that the group grows from 0 to N members; the raw driver
// inserts the same memberships (into a second group) and advances the
// member's and the group's versions. Target: server p50 ≤ 5 ms, the last
// tenth's p50 within 1.5 × the first's.
func BenchmarkEngineAddMember(b *testing.B) {
	n := engineUsers(b)
	for b.Loop() {
		e, ids := engineWithUsers(b, n)
		group := e.c.Post(b, "/Groups", scimtest.GroupBody("Growing")).Expect(b, http.StatusCreated).Str("id")
		other := e.c.Post(b, "/Groups", scimtest.GroupBody("Raw")).Expect(b, http.StatusCreated).Str("id")
		ctx := context.Background()
		server, driver := make([]time.Duration, n), make([]time.Duration, n)
		before := e.log.Len()
		var cmds []storetest.Command
		for i := range n {
			t0 := time.Now()
			e.c.Patch(b, "/Groups/"+group, scimtest.Op("add", "members", []any{map[string]any{"value": ids[i]}})).Expect(b, http.StatusNoContent)
			server[i] = time.Since(t0)
			cmds = append(cmds, e.log.Commands()[before:]...)
			t0 = time.Now()
			if _, err := e.db.Collection("memberships").InsertOne(ctx, bson.D{{Key: "_id", Value: other + "/" + ids[i]}, {Key: "account", Value: e.account}, {Key: "group", Value: other}, {Key: "member", Value: ids[i]}, {Key: "type", Value: "User"}}); err != nil {
				b.Fatal(err)
			}
			for _, c := range []struct{ coll, id string }{{"users", ids[i]}, {"groups", other}} {
				if _, err := e.db.Collection(c.coll).UpdateOne(ctx, bson.D{{Key: "account", Value: e.account}, {Key: "_id", Value: c.id}}, bson.M{"$inc": bson.M{"version": int64(1)}}); err != nil {
					b.Fatal(err)
				}
			}
			driver[i] = time.Since(t0)
			before = e.log.Len()
		}
		tenth := n / 10
		reportP50(b, server, driver)
		b.ReportMetric(ms(p50(server[:tenth])), "first10%-p50-ms")
		b.ReportMetric(ms(p50(server[n-tenth:])), "last10%-p50-ms")
		b.ReportMetric(float64(p50(server[n-tenth:]))/float64(p50(server[:tenth])), "last/first")
		breakdown(b, n, cmds)
	}
}

// BenchmarkEngineGetGroup is GET /Groups/{id} of a group of 1,000 members,
// with them, 200 times one at a time, alternating with the raw driver
// reading the memberships and the members' names. Target: server p50 ≤ 50 ms.
func BenchmarkEngineGetGroup(b *testing.B) {
	const members, gets = 1000, 200
	for b.Loop() {
		e, ids := engineWithUsers(b, members)
		group := e.c.Post(b, "/Groups", scimtest.GroupBody("Big", ids...)).Expect(b, http.StatusCreated).Str("id")
		ctx := context.Background()
		server, driver := make([]time.Duration, gets), make([]time.Duration, gets)
		before := e.log.Len()
		for i := range gets {
			t0 := time.Now()
			r := e.c.Get(b, "/Groups/"+group).Expect(b, http.StatusOK)
			server[i] = time.Since(t0)
			if got := len(r.At("members").([]any)); got != members {
				b.Fatalf("%d members", got)
			}
			t0 = time.Now()
			cur, err := e.db.Collection("memberships").Find(ctx, bson.D{{Key: "account", Value: e.account}, {Key: "group", Value: group}}, options.Find().SetBatchSize(members+1))
			if err != nil {
				b.Fatal(err)
			}
			var ms []struct {
				Member string `bson:"member"`
			}
			if err := cur.All(ctx, &ms); err != nil {
				b.Fatal(err)
			}
			in := make(bson.A, len(ms))
			for k, m := range ms {
				in[k] = m.Member
			}
			cur, err = e.db.Collection("users").Find(ctx, bson.D{{Key: "account", Value: e.account}, {Key: "_id", Value: bson.M{"$in": in}}},
				options.Find().SetProjection(bson.M{"a.userName": 1, "a.displayName": 1}).SetBatchSize(members+1))
			if err != nil {
				b.Fatal(err)
			}
			var names []bson.Raw
			if err := cur.All(ctx, &names); err != nil || len(names) != members {
				b.Fatalf("raw: %d names, %v", len(names), err)
			}
			driver[i] = time.Since(t0)
		}
		reportP50(b, server, driver)
		breakdown(b, gets, e.log.Commands()[before:])
	}
}

// BenchmarkEngineBulk creates N users through Bulk requests of 100 creates
// at concurrency 4; the raw driver inserts the same number of user
// documents with insertMany of 100, at concurrency 4, into the server's
// collection (with its indexes, under an account of its own). Target:
// server ≥ 3,000 users/s.
func BenchmarkEngineBulk(b *testing.B) {
	n := engineUsers(b)
	const per = 100
	for b.Loop() {
		e := newEngine(b)
		raw, rawAccount := e.db.Collection("users"), store.NewID()
		ctx := context.Background()
		before := e.log.Len()
		_, d := timed(n/per, concurrency, func(k int) {
			ops := make([]any, 0, per)
			for i := k * per; i < (k+1)*per; i++ {
				ops = append(ops, map[string]any{"method": "POST", "path": "/Users", "bulkId": fmt.Sprint(i), "data": entraUser(fmt.Sprintf("bulk%d@contoso.example", i), i)})
			}
			r := e.c.Post(b, "/Bulk", map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:BulkRequest"}, "Operations": ops}).Expect(b, http.StatusOK)
			for _, res := range r.At("Operations").([]any) {
				if m := res.(map[string]any); m["status"] != "201" {
					b.Fatalf("bulk create: %v", m)
				}
			}
		})
		cmds := e.log.Commands()[before:]
		_, dd := timed(n/per, concurrency, func(k int) {
			docs := make([]any, 0, per)
			for i := k * per; i < (k+1)*per; i++ {
				docs = append(docs, rawUser(rawAccount, fmt.Sprintf("bulk%d@contoso.example", i), i))
			}
			if _, err := raw.InsertMany(ctx, docs); err != nil {
				b.Fatal(err)
			}
		})
		b.ReportMetric(float64(n/per*per)/d.Seconds(), "server-users/s")
		b.ReportMetric(float64(n/per*per)/dd.Seconds(), "driver-users/s")
		b.ReportMetric(dd.Seconds()/d.Seconds(), "ratio")
		breakdown(b, n/per, cmds)
	}
}
