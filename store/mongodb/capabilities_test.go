package mongodb_test

import (
	"context"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/timecamp/timecamp-scim/store/mongodb"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

// The store probes what the deployment does and decides from that: on
// FerretDB 1.24 (CI's database) queries scan and conditional updates are
// read-modify-write; on the deployment in SCIM_TEST_MONGODB_URI (MongoDB,
// or FerretDB 2 with DocumentDB) queries use indexes and updates are
// atomic. The atomicity probe must say the same every time: a
// read-modify-write engine called atomic would lose updates.
func TestCapabilities(t *testing.T) {
	ctx := context.Background()
	st := storetest.NewMongo(t)
	c := st.Capabilities()
	want := !storetest.OnFerretDB()
	if c.IndexedQueries != want || c.AtomicUpdates != want {
		t.Fatalf("capabilities %+v; want indexed queries and atomic updates %v", c, want)
	}
	for i := range 20 {
		atomic, err := st.ProbeAtomicUpdates(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if atomic != want {
			t.Fatalf("probe %d: atomic updates %v, first probe %v", i+1, atomic, want)
		}
	}

	// The indexes follow: every declared one where queries use them (but
	// those serving a sort where the engine sorts in memory), the unique
	// ones only where they do not.
	declared, unique := 0, 0
	for _, ix := range mongodb.Indexes() {
		if ix.Collection != "users" || (ix.Sort && !c.IndexedSorts) {
			continue
		}
		declared++
		if ix.Unique {
			unique++
		}
	}
	client, err := mongo.Connect(options.Client().ApplyURI(st.URI()))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(ctx)
	cur, err := client.Database(st.DatabaseName()).Collection("users").Indexes().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var have []bson.M
	if err := cur.All(ctx, &have); err != nil {
		t.Fatal(err)
	}
	n := len(have) - 1 // _id's own
	if (want && n != declared) || (!want && n != unique) {
		t.Errorf("%d indexes on users besides _id; declared %d, %d of them unique (indexed queries: %v)", n, declared, unique, want)
	}
	t.Logf("capabilities: %v", c.Decisions())
}

// A small connection pool in the URI must not make the atomicity probe's
// writers take turns (on FerretDB 1.x, writers one at a time all look
// atomic, and the store would then drop its write lock and allow a second
// server): the probe has a pool of its own.
func TestCapabilitiesWithASmallPool(t *testing.T) {
	ctx := context.Background()
	uri, err := storetest.URI()
	if err != nil {
		t.Fatal(err)
	}
	sep := "?"
	if strings.Contains(uri, "?") {
		sep = "&"
	}
	st := storetest.NewMongoAt(t, uri+sep+"maxPoolSize=1")
	want := !storetest.OnFerretDB()
	if c := st.Capabilities(); c.AtomicUpdates != want {
		t.Fatalf("with maxPoolSize=1: capabilities %+v; want atomic updates %v", c, want)
	}
	for i := range 3 {
		atomic, err := st.ProbeAtomicUpdates(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if atomic != want {
			t.Fatalf("with maxPoolSize=1, probe %d: atomic updates %v; want %v", i+1, atomic, want)
		}
	}
}
