package mongodb

// What the deployment does, found out when the store opens. The store
// decides from these, never from the product's name: MongoDB, FerretDB 2
// with DocumentDB and FerretDB 1.x speak the same protocol but differ in
// what they guarantee.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Capabilities are what the deployment was found to do.
type Capabilities struct {
	// IndexedQueries: an equality on the fields of a declared index is
	// answered from that index (explain names it). MongoDB and FerretDB 2
	// with DocumentDB do; FerretDB 1.x scans the collection whatever the
	// indexes.
	IndexedQueries bool
	// IndexedSorts: a sort on the fields that follow an equality in an
	// index is read in the index's order, with no sort of its own in the
	// plan (MongoDB; DocumentDB 0.106 sorts the matching documents).
	IndexedSorts bool
	// AtomicUpdates: a conditional update of one document is atomic, so
	// of several concurrent updates on one condition exactly one applies.
	// MongoDB and DocumentDB lock the document; FerretDB 1.x reads,
	// changes and writes it back, and several can apply.
	AtomicUpdates bool
	// Transactions: a multi-document transaction can be aborted, its
	// writes undone (a replica set or a sharded cluster; not a standalone
	// MongoDB, not FerretDB).
	Transactions bool
	// ReplicaSet: the server is a replica set member or a mongos.
	ReplicaSet bool
}

// Decisions says what the store does with the capabilities, for the log
// at start (serve logs it once).
func (c Capabilities) Decisions() []any {
	indexes := "every declared index"
	switch {
	case !c.IndexedQueries:
		indexes = "the unique indexes only (queries scan anyway; other indexes would only slow writes)"
	case !c.IndexedSorts:
		indexes = "every declared index but those that only serve a sort (the engine sorts in memory anyway)"
	}
	writes, instances := "atomic single-document writes: no process lock", "any number of server instances"
	if !c.AtomicUpdates {
		writes = "conditional writes serialised by a process-wide lock"
		instances = "one server per database (the lease)"
	}
	tx := "not available: an operation that writes several documents is recorded in its account while it runs, and finished or undone by whichever server finds it after a crash"
	if c.Transactions {
		tx = "available but not used: an operation that writes several documents is recorded in its account while it runs (which every deployment supports), and finished or undone by whichever server finds it after a crash"
	}
	return []any{
		"indexed_queries", c.IndexedQueries, "indexed_sorts", c.IndexedSorts, "atomic_updates", c.AtomicUpdates,
		"transactions", c.Transactions, "replica_set", c.ReplicaSet,
		"indexes", indexes, "writes", writes, "instances", instances, "multi_document", tx,
	}
}

// collCapabilities holds the probes' scratch documents (each removed after
// its probe).
const collCapabilities = "capabilities"

// probeCapabilities finds out what the deployment does. The unique indexes
// exist already: the index probe explains a lookup by userName, which one
// of them serves.
func (s *Store) probeCapabilities(ctx context.Context) (Capabilities, error) {
	var c Capabilities
	var err error
	if c.ReplicaSet, err = s.probeReplicaSet(ctx); err != nil {
		return c, fmt.Errorf("hello: %w", err)
	}
	if c.IndexedQueries, err = s.probeIndexedQueries(ctx); err != nil {
		return c, fmt.Errorf("explain: %w", err)
	}
	if c.IndexedQueries {
		if c.IndexedSorts, err = s.probeIndexedSorts(ctx); err != nil {
			return c, fmt.Errorf("explain a sort: %w", err)
		}
	}
	if c.AtomicUpdates, err = s.probeAtomicUpdates(ctx); err != nil {
		return c, fmt.Errorf("conditional updates: %w", err)
	}
	if c.AtomicUpdates {
		// A probe can only fail to see a lost update; FerretDB 1.x is
		// known to lose them (read-modify-write), whatever a probe saw.
		if c.AtomicUpdates, err = s.notFerretDB1(ctx); err != nil {
			return c, fmt.Errorf("buildInfo: %w", err)
		}
	}
	c.Transactions = s.probeTransactions(ctx)
	return c, nil
}

// notFerretDB1 reports that the server is not FerretDB 1.x. Its buildInfo
// has a field ferretdbVersion ("v1.24.0", or "unknown" when built from
// source without a version); FerretDB 2 names its version under
// ferretdb.version instead, and MongoDB has neither.
func (s *Store) notFerretDB1(ctx context.Context) (bool, error) {
	var info struct {
		FerretDB *string `bson:"ferretdbVersion"`
	}
	if err := s.client.Database("admin").RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		return false, err
	}
	if info.FerretDB == nil {
		return true, nil
	}
	major, _, _ := strings.Cut(strings.TrimPrefix(*info.FerretDB, "v"), ".")
	n, err := strconv.Atoi(major)
	return err == nil && n >= 2, nil
}

func (s *Store) probeReplicaSet(ctx context.Context) (bool, error) {
	var hello struct {
		SetName string `bson:"setName"`
		Msg     string `bson:"msg"`
	}
	if err := s.client.Database("admin").RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello); err != nil {
		return false, err
	}
	return hello.SetName != "" || hello.Msg == "isdbgrid", nil
}

// probeIndexedQueries explains the lookup of a user by userName, with the
// index as a hint, and looks for the index's name in the plan (MongoDB's
// IXSCAN stage names it as indexName, DocumentDB's PostgreSQL plan as
// "Index Name"; FerretDB 1.x plans a scan).
func (s *Store) probeIndexedQueries(ctx context.Context) (bool, error) {
	keys := bson.D{{Key: "account", Value: 1}, {Key: "userNameLower", Value: 1}}
	var plan bson.M
	err := s.db.RunCommand(ctx, bson.D{
		{Key: "explain", Value: bson.D{
			{Key: "find", Value: kinds["User"].collection},
			{Key: "filter", Value: bson.D{{Key: "account", Value: "capabilities-probe"}, {Key: "userNameLower", Value: "probe"}}},
			{Key: "hint", Value: keys},
		}},
		{Key: "verbosity", Value: "queryPlanner"},
	}).Decode(&plan)
	var ce mongo.CommandError
	if errors.As(err, &ce) {
		return false, nil // no explain, or no hints: no index use to see
	}
	if err != nil {
		return false, err
	}
	return namesIndex(plan, indexName(keys)), nil
}

// probeIndexedSorts explains a page of a probe collection sorted as pages
// of users are, with an index of that order as a hint: the sort is read
// from the index when the plan has no sort stage of its own (MongoDB's
// SORT stage, PostgreSQL's Sort node).
func (s *Store) probeIndexedSorts(ctx context.Context) (bool, error) {
	coll := s.db.Collection(collCapabilities)
	keys := bson.D{{Key: "account", Value: 1}, {Key: "created", Value: 1}, {Key: "_id", Value: 1}}
	if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: keys}); err != nil {
		return false, err
	}
	var plan bson.M
	err := s.db.RunCommand(ctx, bson.D{
		{Key: "explain", Value: bson.D{
			{Key: "find", Value: collCapabilities},
			{Key: "filter", Value: bson.D{{Key: "account", Value: "capabilities-probe"}}},
			{Key: "sort", Value: bson.D{{Key: "created", Value: 1}, {Key: "_id", Value: 1}}},
			{Key: "limit", Value: 100},
			{Key: "hint", Value: keys},
		}},
		{Key: "verbosity", Value: "queryPlanner"},
	}).Decode(&plan)
	var ce mongo.CommandError
	if errors.As(err, &ce) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return namesIndex(plan, indexName(keys)) && !hasSortStage(plan), nil
}

// hasSortStage reports whether an explain output sorts: a MongoDB stage
// "SORT", a PostgreSQL node "Sort" (or "Incremental Sort").
func hasSortStage(v any) bool {
	switch x := plain(v).(type) {
	case map[string]any:
		for k, el := range x {
			if s, ok := el.(string); ok && (k == "stage" || k == "Node Type") && strings.Contains(strings.ToLower(s), "sort") {
				return true
			}
			if hasSortStage(el) {
				return true
			}
		}
	case []any:
		for _, el := range x {
			if hasSortStage(el) {
				return true
			}
		}
	}
	return false
}

// indexName is the name MongoDB gives an index by default: account_1_userNameLower_1.
func indexName(keys bson.D) string {
	parts := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		parts = append(parts, k.Key, fmt.Sprint(k.Value))
	}
	return strings.Join(parts, "_")
}

// namesIndex reports whether an explain output uses the index: a field
// whose name speaks of an index holds its name.
func namesIndex(v any, name string) bool {
	switch x := plain(v).(type) {
	case map[string]any:
		for k, el := range x {
			if s, ok := el.(string); ok && s == name && strings.Contains(strings.ToLower(k), "index") {
				return true
			}
			if namesIndex(el, name) {
				return true
			}
		}
	case []any:
		for _, el := range x {
			if namesIndex(el, name) {
				return true
			}
		}
	}
	return false
}

// Rounds and writers of the atomicity probe. Where updates are not atomic
// (FerretDB 1.24, measured: several of 16 concurrent updates applied in 19
// rounds of 20), the first round or two tell; where they are, every round
// has one winner, so a deployment is called atomic only after all of them.
const atomicProbeRounds, atomicProbeWriters = 8, 16

// probeAtomicUpdates sends concurrent updates of one document on one
// condition ({v: 0} → v+1), round after round: on an engine that applies
// a conditional update atomically exactly one of them matches. The
// writers have a client of their own with a connection each: through the
// store's pool (maxPoolSize=1 in the URI) they could take turns, and
// updates one at a time look atomic on any engine.
func (s *Store) probeAtomicUpdates(ctx context.Context) (bool, error) {
	client, err := mongo.Connect(clientOptions(s.uri).SetMaxPoolSize(atomicProbeWriters).SetMonitor(nil))
	if err != nil {
		return false, err
	}
	defer func() { _ = client.Disconnect(context.WithoutCancel(ctx)) }()
	coll := client.Database(s.db.Name()).Collection(collCapabilities)
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	id := "atomic-probe:" + hex.EncodeToString(b)
	defer func() { _, _ = coll.DeleteOne(context.WithoutCancel(ctx), bson.D{{Key: "_id", Value: id}}) }()
	for round := 0; round < atomicProbeRounds; round++ {
		if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.M{"$set": bson.M{"v": 0}}, options.UpdateOne().SetUpsert(true)); err != nil {
			return false, err
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var firstErr error
		won := 0
		start := make(chan struct{})
		for range atomicProbeWriters {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				res, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "v", Value: 0}}, bson.M{"$inc": bson.M{"v": 1}})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil && firstErr == nil:
					firstErr = err
				case err == nil && res.MatchedCount == 1:
					won++
				}
			}()
		}
		close(start)
		wg.Wait()
		if firstErr != nil {
			return false, firstErr
		}
		if won != 1 {
			return false, nil
		}
	}
	return true, nil
}

// probeTransactions inserts a document in a transaction and aborts it:
// transactions work when the document is then not there. (FerretDB 2
// accepts a transaction's writes but applies them at once, and implements
// no commit or abort; a standalone MongoDB refuses.)
func (s *Store) probeTransactions(ctx context.Context) bool {
	coll := s.db.Collection(collCapabilities)
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	id := "transaction-probe:" + hex.EncodeToString(b)
	defer func() { _, _ = coll.DeleteOne(context.WithoutCancel(ctx), bson.D{{Key: "_id", Value: id}}) }()
	sess, err := s.client.StartSession()
	if err != nil {
		return false
	}
	defer sess.EndSession(ctx)
	if err := sess.StartTransaction(); err != nil {
		return false
	}
	sctx := mongo.NewSessionContext(ctx, sess)
	if _, err := coll.InsertOne(sctx, bson.D{{Key: "_id", Value: id}}); err != nil {
		_ = sess.AbortTransaction(ctx)
		return false
	}
	if err := sess.AbortTransaction(ctx); err != nil {
		return false
	}
	n, err := s.count(ctx, coll, bson.D{{Key: "_id", Value: id}})
	return err == nil && n == 0
}
