package mongodb

// The server lease: one server process per database where conditional
// updates are not atomic (Capabilities.AtomicUpdates false: FerretDB 1.x).
//
// FerretDB 1.x applies an update as read-modify-write (it reads the
// document, changes it in Go and writes it back), so two conditional
// updates of one document can both succeed. Within one process the store
// serialises its conditional writes (writeMu); two processes on one such
// database would lose updates — seat counts, versions, outbox claims. So a
// server takes a lease in the database at start (TakeServerLease) and
// refuses to start while another holds it; MongoDB and FerretDB 2 with
// DocumentDB apply each single-document update atomically and need none.
//
// The lease is a sequence of documents in the collection "leases", one per
// term. Taking a lease inserts the next term (_id "serve:<term>"): the
// unique _id makes one insert win, which FerretDB guarantees (its backend
// enforces the primary key), where a conditional update would not. Only
// the holder updates its term's document afterwards (renewal, release), so
// no two processes update one document. A holder that finds a later term
// has lost the lease (it was away longer than LeaseTTL) and must stop.
// The collection is not part of the data: store copy leaves it out.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/store"
)

const collLeases = "leases"

const (
	// LeaseTTL is how long a lease holds without renewal: how long a
	// server that died without releasing it (SIGKILL, a lost machine)
	// keeps another from starting — unless the new one runs on the same
	// machine and sees that the holder's process is gone.
	LeaseTTL = 15 * time.Second
	// LeaseRenewEvery is how often the holder renews it.
	LeaseRenewEvery = LeaseTTL / 3
)

// leaseName names the lease of serve (the only one).
const leaseName = "serve"

// LeaseInfo is a term of the lease, as stored.
type LeaseInfo struct {
	ID     string `bson:"_id"`
	Name   string `bson:"name"`
	Term   int64  `bson:"term"`
	Holder string `bson:"holder"` // random, one per holding process
	Host   string `bson:"host"`
	PID    int    `bson:"pid"`
	// Machine identifies the machine's boot and the process's PID
	// namespace, within which PID is meaningful (see processGone).
	Machine  string    `bson:"machine,omitempty"`
	Started  time.Time `bson:"started"`
	Renewed  time.Time `bson:"renewed"`
	Expires  time.Time `bson:"expires"`
	Released bool      `bson:"released,omitempty"`
}

// Live reports whether the term still holds at t.
func (l *LeaseInfo) Live(t time.Time) bool { return !l.Released && t.Before(l.Expires) }

// LeaseHeldError says that another server holds the lease.
type LeaseHeldError struct{ Lease LeaseInfo }

func (e *LeaseHeldError) Error() string {
	l := e.Lease
	return fmt.Sprintf("another timecamp-scim server is running on this database (host %s, process %d, since %s; it renewed its lease %s ago)",
		l.Host, l.PID, l.Started.UTC().Format(time.RFC3339), time.Since(l.Renewed).Round(time.Second))
}

// Lease is a term of the lease this process holds.
type Lease struct {
	s    *Store
	info LeaseInfo
	log  *slog.Logger
	mu   sync.Mutex
}

// held are the holders of the leases this process holds: a lease that
// names this process's pid but none of them was held by an earlier
// process with the same pid (a restarted container).
var held sync.Map // holder → true

// TakeServerLease takes the lease for a server process, or returns a
// *LeaseHeldError when a live server holds it. A lease that is not renewed
// is waited for until it expires (at most LeaseTTL: its holder died
// without releasing it); one renewed meanwhile belongs to a running
// server. A lease whose holder ran on this machine and whose process is
// gone is taken at once.
func (s *Store) TakeServerLease(ctx context.Context, log *slog.Logger) (*Lease, error) {
	if log == nil {
		log = slog.Default()
	}
	host, _ := os.Hostname()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	me := LeaseInfo{Name: leaseName, Holder: hex.EncodeToString(b), Host: host, PID: os.Getpid(), Machine: machineID()}
	var waited *LeaseInfo // the term being waited for
	for {
		cur, err := s.currentLease(ctx)
		if err != nil {
			return nil, err
		}
		now := time.Now()
		free := cur == nil || !cur.Live(now) || s.holderGone(cur)
		if !free {
			if waited != nil && (waited.ID != cur.ID || !waited.Renewed.Equal(cur.Renewed)) {
				return nil, &LeaseHeldError{Lease: *cur} // renewed: its holder runs
			}
			if waited == nil {
				log.Info("another server holds the database lease: waiting to see whether it renews it (a server that runs does) or lets it expire (one that stopped)",
					"holder_host", cur.Host, "holder_pid", cur.PID, "expires_in", time.Until(cur.Expires).Round(time.Second).String())
				waited = cur
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(min(time.Second, max(time.Until(cur.Expires), 10*time.Millisecond))):
			}
			continue
		}
		next := me
		next.Term = 1
		if cur != nil {
			next.Term = cur.Term + 1
		}
		next.ID = fmt.Sprintf("%s:%012d", leaseName, next.Term)
		next.Started, next.Renewed, next.Expires = store.Now(), store.Now(), store.Now().Add(LeaseTTL)
		if _, err := s.db.Collection(collLeases).InsertOne(ctx, &next); err != nil {
			if isDuplicateKey(err) {
				waited = nil
				continue // another process took this term first: look again
			}
			return nil, err
		}
		held.Store(next.Holder, true)
		if cur != nil {
			// Earlier terms are history (best effort).
			_, _ = s.db.Collection(collLeases).DeleteMany(ctx, bson.D{{Key: "name", Value: leaseName}, {Key: "term", Value: bson.M{"$lt": next.Term}}})
		}
		return &Lease{s: s, info: next, log: log}, nil
	}
}

// CurrentServerLease returns the lease of a live server, or nil when none
// holds it (management commands look before changing what a server on
// FerretDB may be changing too).
func (s *Store) CurrentServerLease(ctx context.Context) (*LeaseInfo, error) {
	cur, err := s.currentLease(ctx)
	if err != nil || cur == nil || !cur.Live(time.Now()) || s.holderGone(cur) {
		return nil, err
	}
	return cur, nil
}

// currentLease reads the latest term (nil: never taken).
func (s *Store) currentLease(ctx context.Context) (*LeaseInfo, error) {
	var l LeaseInfo
	err := s.db.Collection(collLeases).FindOne(ctx, bson.D{{Key: "name", Value: leaseName}},
		options.FindOne().SetSort(bson.D{{Key: "term", Value: -1}})).Decode(&l)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &l, nil
}

// holderGone reports that the lease's holder ran on this machine, in this
// PID namespace, and its process is gone: a server restarted after a
// crash takes the lease at once rather than waiting for it to expire.
func (s *Store) holderGone(l *LeaseInfo) bool {
	if l.Machine == "" || l.Machine != machineID() {
		return false
	}
	if _, mine := held.Load(l.Holder); mine {
		return false
	}
	if l.PID == os.Getpid() {
		return true // an earlier process with this pid
	}
	return processGone(l.PID)
}

// ErrLeaseLost is returned by Keep when another server took the lease.
var ErrLeaseLost = errors.New("mongodb: lost the server lease")

// Keep renews the lease every LeaseRenewEvery until ctx ends, and returns
// nil then. While the database is unreachable it tries every second (so
// that it renews as soon as the database is back). It returns an error
// wrapping ErrLeaseLost when another server took the lease (this one was
// away longer than LeaseTTL): the caller must stop serving.
func (l *Lease) Keep(ctx context.Context) error {
	wait := LeaseRenewEvery
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		err := l.renew(ctx)
		switch {
		case errors.Is(err, ErrLeaseLost):
			return err
		case err != nil && ctx.Err() == nil:
			if failure.Is(err, failure.Unavailable) {
				wait = time.Second
			} else {
				wait = LeaseRenewEvery
			}
			l.log.Warn("could not renew the database lease; retrying", "error", err, "expires", l.expires().Format(time.RFC3339))
		default:
			wait = LeaseRenewEvery
		}
	}
}

func (l *Lease) expires() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.info.Expires
}

// renew extends the lease and checks that no later term exists.
func (l *Lease) renew(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := store.Now()
	coll := l.s.db.Collection(collLeases)
	res, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: l.info.ID}, {Key: "holder", Value: l.info.Holder}},
		bson.M{"$set": bson.M{"renewed": now, "expires": now.Add(LeaseTTL)}})
	if err != nil {
		return err
	}
	cur, err := l.s.currentLease(ctx)
	if err != nil {
		return err
	}
	if res.MatchedCount == 0 || cur == nil || cur.Term != l.info.Term {
		if cur != nil && cur.Term != l.info.Term {
			return fmt.Errorf("%w to host %s, process %d, at %s (this server could not renew it for longer than %s)",
				ErrLeaseLost, cur.Host, cur.PID, cur.Started.UTC().Format(time.RFC3339), LeaseTTL)
		}
		return fmt.Errorf("%w: its record is gone", ErrLeaseLost)
	}
	l.info.Renewed, l.info.Expires = now, now.Add(LeaseTTL)
	return nil
}

// Release gives the lease up (clean shutdown): the next server takes it
// at once.
func (l *Lease) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	defer held.Delete(l.info.Holder)
	now := store.Now()
	_, err := l.s.db.Collection(collLeases).UpdateOne(ctx, bson.D{{Key: "_id", Value: l.info.ID}, {Key: "holder", Value: l.info.Holder}},
		bson.M{"$set": bson.M{"released": true, "expires": now}})
	return err
}

// Info returns the lease as last written.
func (l *Lease) Info() LeaseInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.info
}
