// Package mongodb is the store on MongoDB (go.mongodb.org/mongo-driver/v2):
// MongoDB ≥ 6.0 — a replica set, Atlas, or a sharded cluster with the
// account leading the shard key — and FerretDB 1.24, on which the tests run.
// It therefore uses only what both support: no transactions, no
// collations, no change streams, no $elemMatch on fields.
//
// Documents: every document carries its account id and every query is scoped
// by it: a resource is read and written as {account, _id, …}, and every
// lookup an identity provider makes is an equality on top-level fields,
// account first, served by a declared index (see Indexes). A resource
// document holds the SCIM attributes as given ("a"), its lookup keys as
// top-level fields (userNameLower, emailsLower, externalId, displayNameLower,
// projectIds, …: see lookupKey), a lower-cased copy of its other
// case-insensitive strings ("n", for the filters no identity provider
// sends) and a version used for optimistic concurrency. Group membership is
// one document per (group, member) so that adding a member to a large group
// is one insert.
package mongodb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

// Config says which database to use.
type Config struct {
	// URI of a MongoDB deployment.
	URI string
	// Database name.
	Database string
	Logger   *slog.Logger
	// Monitor, if set, sees every command the store sends (tests check
	// the shape of queries and count round trips with it).
	Monitor *event.CommandMonitor
}

// Store is the persistence layer. It is safe for concurrent use.
type Store struct {
	client *mongo.Client
	db     *mongo.Database
	uri    string

	// writeMu serialises conditional writes on FerretDB: FerretDB 1.x
	// applies an update as read-modify-write, so two concurrent conditional
	// updates of one document could both succeed. With one server process
	// a process-wide lock restores the atomicity MongoDB gives each
	// single-document write; it is shared
	// by every Store of the process on the same database server (see
	// ferretWriteLock). Nil on MongoDB.
	writeMu *sync.Mutex

	// FerretDB reports whether the database is FerretDB.
	FerretDB bool
}

// Open connects to the database and makes sure the indexes exist.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.URI == "" {
		return nil, errors.New("no MongoDB URI given")
	}
	s := &Store{}
	uri := cfg.URI
	opts := clientOptions(uri)
	if cfg.Monitor != nil {
		opts.SetMonitor(cfg.Monitor)
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	s.client, s.uri = client, uri
	s.db = client.Database(cfg.Database)
	if err := s.Ping(ctx); err != nil {
		s.Close(context.Background())
		return nil, fmt.Errorf("reach database: %w", err)
	}
	if s.FerretDB, err = isFerretDB(ctx, client); err != nil {
		s.Close(context.Background())
		return nil, fmt.Errorf("identify database: %w", err)
	}
	if s.FerretDB {
		s.writeMu = ferretWriteLock(uri)
	}
	// Building an index on a large collection takes longer than one
	// request may (Timeout): the start waits for it.
	ixCtx, cancel := context.WithTimeout(ctx, IndexBuildTimeout)
	defer cancel()
	if err := s.ensureIndexes(ixCtx); err != nil {
		s.Close(context.Background())
		return nil, fmt.Errorf("create indexes: %w", err)
	}
	if err := s.upgrade(ixCtx); err != nil {
		s.Close(context.Background())
		return nil, fmt.Errorf("upgrade stored resources: %w", err)
	}
	return s, nil
}

// layout is the form of the stored documents this code writes, recorded
// in collection "layout" once upgrade has taken the database to it (not
// in settings: "store copy" copies those, and a new database has its own
// layout).
// Layout 2: a group's and a project's parent is a reference {"value": id},
// no longer the id alone.
const layout = 2

// upgrade takes documents written by earlier versions to the current
// layout, once per database, account by account (every query names its
// account). Processes of an earlier version must be stopped first: what
// they write afterwards stays in their form.
func (s *Store) upgrade(ctx context.Context) error {
	meta := s.db.Collection(collLayout)
	var d struct {
		Version int `bson:"version"`
	}
	err := meta.FindOne(ctx, bson.M{"_id": "layout"}).Decode(&d)
	if err != nil && !isNotFound(err) {
		return err
	}
	if d.Version >= layout {
		return nil
	}
	accounts, err := s.Accounts(ctx)
	if err != nil {
		return err
	}
	for _, a := range accounts {
		for _, u := range []struct{ collection, field string }{
			{kindOf(schemas.Group).collection, "a." + storageKey(schemas.TimeCampGroupURN) + ".parent"},
			{kindOf(schemas.Project).collection, "a.parent"},
		} {
			if err := s.parentsToReferences(ctx, a.ID, u.collection, u.field); err != nil {
				return err
			}
		}
	}
	_, err = meta.UpdateOne(ctx, bson.M{"_id": "layout"}, bson.M{"$set": bson.M{"version": layout}}, options.UpdateOne().SetUpsert(true))
	return err
}

const collLayout = "layout"

// parentsToReferences rewrites the account's parents stored as a plain id
// at field into {"value": id}.
func (s *Store) parentsToReferences(ctx context.Context, account, collection, field string) error {
	coll := s.db.Collection(collection)
	cur, err := coll.Find(ctx, bson.D{{Key: "account", Value: account}, {Key: field, Value: bson.D{{Key: "$type", Value: "string"}}}})
	if err != nil {
		return err
	}
	var docs []bson.M
	if err := cur.All(ctx, &docs); err != nil {
		return err
	}
	for _, doc := range docs {
		v := plain(doc)
		for _, p := range strings.Split(field, ".") {
			m, _ := v.(map[string]any)
			v = m[p]
		}
		id, ok := v.(string)
		if !ok {
			continue
		}
		unlock := s.lockWrites()
		_, err := coll.UpdateOne(ctx, bson.D{{Key: "account", Value: account}, {Key: "_id", Value: doc["_id"]}, {Key: field, Value: id}},
			bson.D{{Key: "$set", Value: bson.D{{Key: field, Value: bson.D{{Key: "value", Value: id}}}}}})
		unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// How long the store waits for the database, unless the URI says
// otherwise (serverSelectionTimeoutMS, connectTimeoutMS, timeoutMS): a
// request to a database that is down fails within ServerSelectionTimeout,
// and one to a database that hangs within OperationTimeout, answered 503
// with Retry-After (see classify) rather than held.
const (
	// ServerSelectionTimeout bounds the wait for a server that can take
	// the operation (the primary of a replica set): what a request to a
	// database that is down costs.
	ServerSelectionTimeout = 2 * time.Second
	// ConnectTimeout bounds opening a connection (TCP, TLS, handshake).
	ConnectTimeout = 5 * time.Second
	// OperationTimeout bounds each operation (each round trip of a
	// cursor), from server selection to its answer.
	OperationTimeout = 10 * time.Second
	// IndexBuildTimeout bounds the creation of the indexes at start.
	IndexBuildTimeout = time.Hour
)

// clientOptions are the driver's options: the waits above and majority
// writes, each unless the URI sets its own. With w=majority a write is
// acknowledged only once a majority of the replica set has it (journaled,
// MongoDB's default for majority writes), so a write that a failover
// would roll back is never answered 2xx. config refuses w=0 and reads
// from secondaries.
func clientOptions(uri string) *options.ClientOptions {
	opts := options.Client().
		SetServerSelectionTimeout(ServerSelectionTimeout).
		SetConnectTimeout(ConnectTimeout).
		SetTimeout(OperationTimeout).
		ApplyURI(uri). // overrides the defaults above with what it sets
		SetBSONOptions(&options.BSONOptions{DefaultDocumentMap: true})
	if opts.WriteConcern == nil {
		opts.SetWriteConcern(writeconcern.Majority())
	}
	return opts
}

// isFerretDB tells FerretDB from MongoDB: its buildInfo has
// "ferretdbVersion".
func isFerretDB(ctx context.Context, client *mongo.Client) (bool, error) {
	var info bson.M
	if err := client.Database("admin").RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		return false, err
	}
	_, ok := info["ferretdbVersion"]
	return ok, nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return s.client.Ping(ctx, readpref.Primary())
}

// Close disconnects.
func (s *Store) Close(ctx context.Context) error {
	if s.client == nil {
		return nil
	}
	return s.client.Disconnect(ctx)
}

// Atomic runs fn as it is: MongoDB deployments this store supports need
// not have multi-document transactions (FerretDB has none), so callers
// compensate for failures half-way (see store.Store.Atomic).
func (s *Store) Atomic(ctx context.Context, fn func(ctx context.Context) error) error {
	return fn(ctx)
}

var _ store.Store = (*Store)(nil)

// URI is the connection string of the store's database server.
func (s *Store) URI() string { return s.uri }

// DatabaseName is the name of the store's database.
func (s *Store) DatabaseName() string { return s.db.Name() }

// DropDatabase removes every collection (tests use it to start clean).
func (s *Store) DropDatabase(ctx context.Context) error {
	return s.db.Drop(ctx)
}

// ferretWriteLocks holds one lock per FerretDB deployment this process
// talks to: every Store of the process connected to the same database
// server (the server's, a background worker's, a test's second
// connection) shares it, so their conditional writes are serialised too.
var ferretWriteLocks sync.Map // URI → *sync.Mutex

func ferretWriteLock(uri string) *sync.Mutex {
	mu, _ := ferretWriteLocks.LoadOrStore(uri, &sync.Mutex{})
	return mu.(*sync.Mutex)
}

// lockWrites serialises a conditional write on the embedded database.
func (s *Store) lockWrites() func() {
	if s.writeMu == nil {
		return func() {}
	}
	s.writeMu.Lock()
	return s.writeMu.Unlock
}

// Index is one index the store declares (and creates when it opens).
type Index struct {
	Collection string
	Keys       bson.D
	Unique     bool
	// CrossAccount marks an index whose queries do not name an account
	// (on a sharded cluster they go to every shard). Every other index
	// of an account-scoped collection starts with the account.
	CrossAccount bool
}

// Indexes returns the indexes the store declares. Every query an identity
// provider's request makes is an equality on top-level fields, account
// first, that the leading fields of one of them serve (the query-shape
// test in storetest holds the store to that).
func Indexes() []Index {
	ixs := []Index{
		{Collection: collAccounts, Keys: bson.D{{Key: "nameLower", Value: 1}}, Unique: true},
		{Collection: collTokens, Keys: bson.D{{Key: "hash", Value: 1}}, Unique: true},
		{Collection: collTokens, Keys: bson.D{{Key: "account", Value: 1}}},
		{Collection: collMemberships, Keys: bson.D{{Key: "account", Value: 1}, {Key: "_id", Value: 1}}},
		{Collection: collMemberships, Keys: bson.D{{Key: "account", Value: 1}, {Key: "group", Value: 1}, {Key: "member", Value: 1}}, Unique: true},
		{Collection: collMemberships, Keys: bson.D{{Key: "account", Value: 1}, {Key: "member", Value: 1}}},
		{Collection: collOutbox, Keys: bson.D{{Key: "state", Value: 1}, {Key: "due", Value: 1}}},
	}
	for _, name := range []string{"User", "Group", "Project"} {
		ixs = append(ixs, kinds[name].indexes()...)
	}
	return slices.Concat(ixs, sessionIndexes(), activityIndexes(), bindingIndexes())
}

// ScopedCollections returns the collections whose documents belong to one
// account each, and whose every query names it: the resources and the
// memberships.
func ScopedCollections() []string {
	return []string{kinds["User"].collection, kinds["Group"].collection, kinds["Project"].collection, collMemberships}
}

// ensureIndexes creates the declared indexes. On FerretDB only the unique
// ones: FerretDB 1.24 never reads an index to answer a query (its SQLite
// backend evaluates filters in Go; its PostgreSQL backend hands equalities
// to PostgreSQL as "_jsonb->'field' @> value", which PostgreSQL answers
// with a sequential scan whatever the indexes — seen in FerretDB's
// explain), so there an index only slows every write down; the unique
// ones still keep userNames and memberships unique.
func (s *Store) ensureIndexes(ctx context.Context) error {
	for _, ix := range Indexes() {
		if s.FerretDB && !ix.Unique {
			continue
		}
		m := mongo.IndexModel{Keys: ix.Keys}
		if ix.Unique {
			m.Options = options.Index().SetUnique(true)
		}
		if _, err := s.db.Collection(ix.Collection).Indexes().CreateOne(ctx, m); err != nil {
			return fmt.Errorf("%s %v: %w", ix.Collection, ix.Keys, err)
		}
	}
	return nil
}

// isDuplicateKey reports a unique-index violation. FerretDB 1.24 reports
// one on insert as MongoDB does (E11000), but one caused by an update or
// replace as an InternalError carrying its backend's message (SQLite's or
// PostgreSQL's).
func isDuplicateKey(err error) bool {
	if mongo.IsDuplicateKeyError(err) {
		return true
	}
	var ce mongo.CommandError
	return errors.As(err, &ce) && ce.Code == ferretInternalError &&
		(strings.Contains(ce.Message, "UNIQUE constraint failed") || strings.Contains(ce.Message, "duplicate key value violates unique constraint"))
}

// ferretInternalError is the code of FerretDB's InternalError.
const ferretInternalError = 1

// errNoDocuments is returned by single-document reads that found nothing.
var errNoDocuments = mongo.ErrNoDocuments

func isNotFound(err error) bool { return errors.Is(err, errNoDocuments) }
