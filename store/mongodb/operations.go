package mongodb

// Operations in flight, recorded in their account's document (see
// store.Operations): {ops: {<id>: {holder, until, seats: {<user>: {d,
// del}}, users, groups, …}}, opsOpen: <how many>}. Recording an operation
// and taking its seats is one update of that document, so a seat is never
// taken without the record that says for whom; the users an operation
// writes carry its id (seatOps), so that whoever recovers it can tell
// which writes landed.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/timecamp/timecamp-scim/store"
)

// ErrOperationLost: the operation's lease ran out and another process
// took it over (this one was away longer than store.OperationLease); its
// writes must stop.
var ErrOperationLost = errors.New("mongodb: the operation's lease ran out and another server recovers it")

func opField(op string, sub ...string) string {
	f := "ops." + op
	for _, s := range sub {
		f += "." + s
	}
	return f
}

// RecordsOperations is true: operations are recorded in their account.
func (s *Store) RecordsOperations() bool { return true }

// BeginOperation records op (or what changed of it) and takes the seats it
// adds, in one conditional update of the account document; see
// store.Operations.
func (s *Store) BeginOperation(ctx context.Context, acct *store.Account, op *store.Operation) (*store.Account, error) {
	reserve := store.Reserved(op.Seats) - store.Reserved(op.Recorded)
	seats := acct.Seats
	for attempt := 0; ; attempt++ {
		now := store.Now()
		until := now.Add(store.OperationLease)
		if op.Recount {
			until = now.Add(store.SeatsSettle)
		}
		q := bson.D{{Key: "_id", Value: op.Account}}
		set, unset, inc := bson.M{}, bson.M{}, bson.M{}
		if op.Recorded == nil {
			rec := *op
			rec.Until, rec.Machine, rec.PID = until, machineID(), os.Getpid()
			set[opField(op.ID)] = &rec
			inc["opsOpen"], inc["opsBegun"] = 1, 1
		} else {
			q = append(q, bson.E{Key: opField(op.ID, "holder"), Value: op.Holder})
			set[opField(op.ID, "until")] = until
			for u, c := range op.Seats {
				if old, ok := op.Recorded[u]; !ok || old != c {
					set[opField(op.ID, "seats", u)] = c
				}
			}
			for u := range op.Recorded {
				if _, ok := op.Seats[u]; !ok {
					unset[opField(op.ID, "seats", u)] = ""
				}
			}
			for f, v := range map[string]any{"users": op.Users, "groups": op.Groups, "groupsOf": op.GroupsOf, "membersOf": op.MembersOf, "allUsers": op.AllUsers} {
				set[opField(op.ID, f)] = v
			}
		}
		if reserve > 0 {
			q = append(q, bson.E{Key: "seats", Value: seats})
			if seats > 0 {
				q = append(q, bson.E{Key: "seatsUsed", Value: bson.M{"$lte": seats - reserve}})
			}
		}
		if reserve != 0 {
			inc["seatsUsed"] = reserve
		}
		upd := bson.M{"$set": set}
		if len(unset) > 0 {
			upd["$unset"] = unset
		}
		if len(inc) > 0 {
			upd["$inc"] = inc
		}
		if err := s.guardWrite(ctx); err != nil {
			return nil, err
		}
		var after store.Account
		unlock := s.lockWrites()
		err := s.db.Collection(collAccounts).FindOneAndUpdate(ctx, q, upd, options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&after)
		unlock()
		if err == nil {
			op.Until = until
			op.Recorded = make(map[string]store.SeatChange, len(op.Seats))
			for u, c := range op.Seats {
				op.Recorded[u] = c
			}
			op.Rivals = rivals(op.ID, op.Recorded, after.Operations)
			return &after, nil
		}
		if !isNotFound(err) {
			return nil, err
		}
		// Not applied: the account is gone, the seats are not there, their
		// number changed, or the operation was taken over.
		now2, err := s.Account(ctx, op.Account)
		if err != nil {
			return nil, err
		}
		if op.Recorded != nil {
			if rec := now2.Operations[op.ID]; rec == nil || rec.Holder != op.Holder {
				return nil, ErrOperationLost
			}
		}
		if reserve > 0 && (now2.Seats == seats || attempt >= 10) {
			return nil, store.SeatLimitReached(now2)
		}
		seats = now2.Seats
	}
}

// EndOperation settles op's seats and removes its record: at once when the
// counter moves, otherwise a moment later with others (see ender).
func (s *Store) EndOperation(ctx context.Context, op *store.Operation) error {
	if op.Recorded == nil || op.Unknown {
		return nil // nothing recorded, or left to the recovery
	}
	if op.Settlement() == 0 && !op.EndNow {
		s.enders.end(s, op)
		op.Recorded = nil
		return nil
	}
	err := s.settle(ctx, op)
	op.Recorded = nil
	return err
}

// settle applies op's settlement and removes its record, on condition
// that op is still this holder's and that the entries whose seats it
// takes off are still there (a deleter may have settled one: see
// SettleSeatChange); when they are not, it reads the record again.
//
// The seat of a user op deleted is freed once: the entries of other
// operations that delete the same user (op.Rivals) go in the same update,
// on condition that they are there; only one of the deletes landed, and
// the recovery of another would find the user gone and free the seat
// again. Whichever settles first — the deleter, or the recovery of one of
// them — frees it; the others find their entry gone. (An operation that
// records its entry for the user only after that settlement, and dies
// before its delete answers, still frees it again: it read the user
// before the delete landed and recorded after; a recount corrects it.)
func (s *Store) settle(ctx context.Context, op *store.Operation) error {
	for attempt := 0; attempt < 10; attempt++ {
		q := bson.D{{Key: "_id", Value: op.Account}, {Key: opField(op.ID, "holder"), Value: op.Holder}}
		unset := bson.M{opField(op.ID): ""}
		for u, c := range op.Recorded {
			if op.Landed[u] && c.Delta < 0 {
				q = append(q, bson.E{Key: opField(op.ID, "seats", u, "d"), Value: c.Delta})
				if c.Delete {
					for _, other := range op.Rivals[u] {
						q = append(q, bson.E{Key: opField(other, "seats", u, "del"), Value: true})
						unset[opField(other, "seats", u)] = ""
					}
				}
			}
		}
		upd := bson.M{"$unset": unset, "$inc": bson.M{"opsOpen": -1, "seatsUsed": op.Settlement()}}
		unlock := s.lockWrites()
		res, err := s.db.Collection(collAccounts).UpdateOne(context.WithoutCancel(ctx), q, upd)
		unlock()
		if err != nil {
			return err
		}
		if res.MatchedCount == 1 {
			return nil
		}
		acct, err := s.Account(ctx, op.Account)
		if err != nil {
			return err
		}
		rec := acct.Operations[op.ID]
		if rec == nil || rec.Holder != op.Holder {
			return nil // ended or taken over by another process
		}
		op.Recorded = rec.Seats
		op.Rivals = rivals(op.ID, op.Recorded, acct.Operations)
	}
	return fmt.Errorf("mongodb: operation %s of account %s could not be settled", op.ID, op.Account)
}

// rivals returns, for each user that the entries of operation id delete,
// the other operations in ops that delete it too (see settle).
func rivals(id string, seats map[string]store.SeatChange, ops map[string]*store.Operation) map[string][]string {
	var out map[string][]string
	for u, c := range seats {
		if !c.Delete {
			continue
		}
		for other, rec := range ops {
			if other == id || rec == nil {
				continue
			}
			if oc, ok := rec.Seats[u]; ok && oc.Delete {
				if out == nil {
					out = map[string][]string{}
				}
				out[u] = append(out[u], other)
			}
		}
	}
	return out
}

// SettleSeatChange settles one user's entry of a recorded operation whose
// write on the user landed; see store.Operations.
func (s *Store) SettleSeatChange(ctx context.Context, account, op, user string) error {
	for attempt := 0; attempt < 10; attempt++ {
		acct, err := s.Account(ctx, account)
		if err != nil {
			return err
		}
		rec := acct.Operations[op]
		if rec == nil {
			return nil
		}
		c, ok := rec.Seats[user]
		if !ok {
			return nil
		}
		unlock := s.lockWrites()
		res, err := s.db.Collection(collAccounts).UpdateOne(ctx,
			bson.D{{Key: "_id", Value: account}, {Key: opField(op, "seats", user, "d"), Value: c.Delta}},
			bson.M{"$unset": bson.M{opField(op, "seats", user): ""}, "$inc": bson.M{"seatsUsed": min(c.Delta, 0)}})
		unlock()
		if err != nil || res.MatchedCount == 1 {
			return err
		}
	}
	return fmt.Errorf("mongodb: the seat of user %s in operation %s could not be settled", user, op)
}

// ExpiredOperations returns the recorded operations whose lease ran out
// before t: the accounts that have any are found by their count.
func (s *Store) ExpiredOperations(ctx context.Context, t time.Time, limit int) ([]*store.Operation, error) {
	cur, err := s.db.Collection(collAccounts).Find(ctx, bson.D{{Key: "opsOpen", Value: bson.M{"$gt": 0}}},
		options.Find().SetProjection(bson.M{"ops": 1}))
	if err != nil {
		return nil, err
	}
	var accounts []store.Account
	if err := cur.All(ctx, &accounts); err != nil {
		return nil, err
	}
	var out []*store.Operation
	for _, a := range accounts {
		for id, op := range a.Operations {
			if op == nil || (!op.Until.Before(t) && !s.goneLongEnough(id, op)) {
				continue
			}
			op.ID, op.Account, op.Recorded = id, a.ID, map[string]store.SeatChange{}
			for u, c := range op.Seats {
				op.Recorded[u] = c
			}
			op.Rivals = rivals(id, op.Recorded, a.Operations)
			out = append(out, op)
			if len(out) >= limit {
				return out, nil
			}
		}
	}
	return out, nil
}

// goneLongEnough reports that the operation's process ran on this machine
// and has been gone for longer than a write it sent may take to be applied
// (OperationTimeout, from when this process first saw it gone): a server
// restarted after a crash, or next to one, need not wait for the lease.
func (s *Store) goneLongEnough(id string, op *store.Operation) bool {
	if op.Machine == "" || op.Machine != machineID() || op.PID == os.Getpid() || !processGone(op.PID) {
		return false
	}
	s.goneMu.Lock()
	defer s.goneMu.Unlock()
	if s.gone == nil {
		s.gone = map[string]time.Time{}
	}
	since, seen := s.gone[id]
	if !seen {
		s.gone[id] = time.Now()
		return false
	}
	return time.Since(since) > OperationTimeout+store.ClockSkew
}

// ClaimOperation takes over an expired operation as read by
// ExpiredOperations, unless it was renewed, claimed or ended meanwhile.
// The record then names this process's machine and PID: another server
// on the machine of the process that died must not find that one gone and
// claim the operation again.
func (s *Store) ClaimOperation(ctx context.Context, op *store.Operation, holder string) (bool, error) {
	until := store.Now().Add(store.OperationLease)
	machine, pid := machineID(), os.Getpid()
	unlock := s.lockWrites()
	res, err := s.db.Collection(collAccounts).UpdateOne(ctx,
		bson.D{{Key: "_id", Value: op.Account}, {Key: opField(op.ID, "holder"), Value: op.Holder}, {Key: opField(op.ID, "until"), Value: op.Until}},
		bson.M{"$set": bson.M{opField(op.ID, "holder"): holder, opField(op.ID, "until"): until,
			opField(op.ID, "machine"): machine, opField(op.ID, "pid"): pid}})
	unlock()
	if err != nil || res.MatchedCount == 0 {
		return false, err
	}
	op.Holder, op.Until, op.Machine, op.PID = holder, until, machine, pid
	return true, nil
}

// guardWrite is called before each write of an operation: a write may
// only be sent while the operation's lease has more than store.WriteMargin
// to run (it is then applied or abandoned before the lease runs out, and
// before any recovery starts); closer to its end the lease is renewed
// first. Writes outside a recorded operation pass.
func (s *Store) guardWrite(ctx context.Context) error {
	op := store.OperationOf(ctx)
	if op == nil || op.Recorded == nil || time.Until(op.Until) > store.WriteMargin {
		return nil
	}
	until := store.Now().Add(store.OperationLease)
	unlock := s.lockWrites()
	res, err := s.db.Collection(collAccounts).UpdateOne(ctx,
		bson.D{{Key: "_id", Value: op.Account}, {Key: opField(op.ID, "holder"), Value: op.Holder}},
		bson.M{"$set": bson.M{opField(op.ID, "until"): until}})
	unlock()
	if err != nil {
		return err
	}
	if res.MatchedCount == 0 {
		return ErrOperationLost
	}
	op.Until = until
	return nil
}

// ender removes the records of operations that ended without moving the
// counter, a moment after they ended and many in one update per account:
// a record removed late costs nothing but a look by the recovery if the
// process dies meanwhile.
type ender struct {
	mu      sync.Mutex
	pending map[string][]string // account → operations
	timer   *time.Timer
}

// EndDelay is how long the record of an operation that ended may stay.
const EndDelay = 100 * time.Millisecond

func (e *ender) end(s *Store, op *store.Operation) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.pending == nil {
		e.pending = map[string][]string{}
	}
	e.pending[op.Account] = append(e.pending[op.Account], op.ID)
	if e.timer == nil {
		e.timer = time.AfterFunc(EndDelay, func() { e.flush(s) })
	}
}

// flush removes the pending records: one update per account, on condition
// that they are all there (so that opsOpen stays their count); one by one
// if not.
func (e *ender) flush(s *Store) {
	e.mu.Lock()
	pending := e.pending
	e.pending, e.timer = nil, nil
	e.mu.Unlock()
	ctx, cancel := context.WithTimeout(store.Background(context.Background()), OperationTimeout)
	defer cancel()
	for account, ops := range pending {
		if err := s.removeRecords(ctx, account, ops); err != nil {
			s.log().Warn("could not remove the records of ended operations; the recovery will", "account", account, "error", err)
		}
	}
}

func (s *Store) removeRecords(ctx context.Context, account string, ops []string) error {
	unset := bson.M{}
	q := bson.D{{Key: "_id", Value: account}}
	for _, op := range ops {
		unset[opField(op)] = ""
		q = append(q, bson.E{Key: opField(op), Value: bson.M{"$exists": true}})
	}
	unlock := s.lockWrites()
	res, err := s.db.Collection(collAccounts).UpdateOne(ctx, q, bson.M{"$unset": unset, "$inc": bson.M{"opsOpen": -len(ops)}})
	unlock()
	if err != nil || res.MatchedCount == 1 || len(ops) == 1 {
		return err
	}
	for _, op := range ops {
		if err := s.removeRecords(ctx, account, []string{op}); err != nil {
			return err
		}
	}
	return nil
}

// flushEnded removes the pending records at once (Close).
func (s *Store) flushEnded() {
	s.enders.mu.Lock()
	if s.enders.timer != nil {
		s.enders.timer.Stop()
	}
	s.enders.mu.Unlock()
	s.enders.flush(s)
}
