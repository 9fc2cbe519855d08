package store

import (
	"context"
	"slices"
	"time"

	"github.com/google/uuid"
)

// Operations record the directory's writes that span several documents
// while they run, so that what a crash leaves half-done is finished or
// undone by whoever finds it: the seats it took or frees, user by user, and
// the resources whose versions and derived attributes it changes.
//
// The embedded store runs each operation in one transaction (Atomic): a
// crash leaves none of it, and it records nothing; Begin and End only move
// the seat counter. MongoDB records an operation in its account's document
// (the seats and the record in one atomic update), takes it out when the
// operation ends, and a server finds the records of processes that died
// (their lease ran out) and recovers them (directory.Service.Recover).
type Operations interface {
	// RecordsOperations reports whether the store records operations
	// (MongoDB). Where it does not (the embedded store), the directory
	// calls BeginOperation only to move the seat counter, and reads
	// nothing for a record.
	RecordsOperations() bool
	// BeginOperation records op in its account, or records what changed
	// since it was last recorded, and takes the seats op.Seats add
	// (users that start using a seat), refusing with a forbidden failure
	// when the account does not have them (the check and the increment are
	// one atomic step; acct is the account as the caller read it, whose
	// number of seats the check starts from). Seats given back by a lower
	// entry are given back at once. It returns the account as it is after
	// the update (MongoDB: the same round trip), with op's record in it.
	BeginOperation(ctx context.Context, acct *Account, op *Operation) (*Account, error)
	// EndOperation ends op: the seats of users whose write did not land are
	// given back, those a landed write freed are taken off the counter, and
	// the record goes. An operation whose outcome is unknown for some user
	// (the database went away during its write) is left to the recovery.
	// When nothing moves the counter, MongoDB takes the record out a moment
	// later together with others (it is complete: a crash meanwhile only
	// makes the recovery look at it).
	EndOperation(ctx context.Context, op *Operation) error
	// SettleSeatChange settles the entry of one user in a recorded
	// operation whose write on that user landed (the user is about to be
	// deleted, and could no longer tell it): the seats it freed are taken
	// off the counter, and the entry goes. Nothing happens when the entry
	// is gone already.
	SettleSeatChange(ctx context.Context, account, op, user string) error
	// ExpiredOperations returns the recorded operations whose lease ran out
	// before t, or whose process is gone (where the store can tell), of
	// every account (at most limit).
	ExpiredOperations(ctx context.Context, t time.Time, limit int) ([]*Operation, error)
	// ClaimOperation makes this process the holder of an expired operation,
	// with a new lease, unless another process claimed or ended it first;
	// it reports whether it did.
	ClaimOperation(ctx context.Context, op *Operation, holder string) (bool, error)
}

// Operation is one directory write that spans several documents.
type Operation struct {
	// ID is time-ordered (NewID): the users it marks keep it a while.
	ID      string `bson:"-"`
	Account string `bson:"-"`
	// Holder identifies the process that runs it (Holder()), or the one
	// recovering it; Machine and PID where it runs, when the store can
	// tell: a server on the same machine recovers the operations of a
	// process that is gone without waiting for their lease.
	Holder  string `bson:"holder"`
	Machine string `bson:"machine,omitempty"`
	PID     int    `bson:"pid,omitempty"`
	// Until is when its lease runs out: the process does not send a write
	// of the operation after Until minus WriteMargin, and the recovery
	// takes over after Until (plus ClockSkew).
	Until time.Time `bson:"until"`
	// Seats are the operation's seat changes, by user.
	Seats map[string]SeatChange `bson:"seats,omitempty"`
	// Users and Groups are the resources whose versions it advances (their
	// members or groups change); GroupsOf are users whose groups it
	// advances, MembersOf groups whose members it advances. AllUsers stands
	// for users too many to list.
	Users []string `bson:"users,omitempty"`
	// Recount marks a seat recount due once Until passed, rather than an
	// operation: an unlimited account became limited (see SeatsSettle).
	Recount   bool     `bson:"recount,omitempty"`
	Groups    []string `bson:"groups,omitempty"`
	GroupsOf  []string `bson:"groupsOf,omitempty"`
	MembersOf []string `bson:"membersOf,omitempty"`
	AllUsers  bool     `bson:"allUsers,omitempty"`

	// Recorded is what the store has recorded of Seats (nil: nothing yet);
	// stores keep it.
	Recorded map[string]SeatChange `bson:"-"`
	// Landed says, by user, whether the operation's write on that user
	// landed: a user written (created, replaced) carrying the operation in
	// its SeatOps, or deleted. Missing: not written. Unknown lists users
	// whose write's outcome is unknown.
	Landed  map[string]bool `bson:"-"`
	Unknown bool            `bson:"-"`
	// EndNow asks EndOperation to take the record out at once, even when
	// the counter does not move.
	EndNow bool `bson:"-"`
	// Rivals lists, by user the operation deletes, the other recorded
	// operations that delete it too, as the store last read them (MongoDB):
	// only one delete lands, so the settlement that frees the user's seat
	// takes their entries out with it, and their recovery, finding the
	// user gone, does not free it again.
	Rivals map[string][]string `bson:"-"`
}

// SeatChange is what an operation does to one user's seat: Delta is +1
// when the user starts using one (the seat is taken when the operation
// begins), -1 when it stops (the seat is freed once the write landed).
// Delete: the write deletes the user (it landed when the user is gone).
type SeatChange struct {
	Delta  int  `bson:"d"`
	Delete bool `bson:"del,omitempty"`
}

// Lease and margins of recorded operations.
const (
	// OperationLease is how long a recorded operation holds without
	// renewal: a server that dies holds its operations that long, then
	// another takes them over. A long operation renews it.
	OperationLease = 30 * time.Second
	// WriteMargin is how long before its lease runs out an operation
	// stops sending writes (or renews the lease first): more than a
	// write may take to be applied (the store's OperationTimeout) plus
	// ClockSkew.
	WriteMargin = 16 * time.Second
	// ClockSkew is how far apart the clocks of two servers may be.
	ClockSkew = 5 * time.Second
	// SeatsSettle is how long after an unlimited account became limited
	// its seat counter is recounted once more: an unlimited account keeps
	// no counter (see directory), and writes that read it unlimited may
	// still land for a moment after the change, taking a seat without
	// counting it.
	SeatsSettle = time.Minute
	// SeatOpsKept is how long a user keeps an operation in its SeatOps:
	// well beyond the longest an operation can wait for its recovery.
	SeatOpsKept = 15 * time.Minute
)

// NewOperation returns an operation of the account run by this process.
func NewOperation(account string) *Operation {
	return &Operation{ID: NewID(), Account: account, Holder: Holder(), Landed: map[string]bool{}}
}

// Empty reports whether the operation records nothing.
func (op *Operation) Empty() bool {
	return len(op.Seats) == 0 && len(op.Users) == 0 && len(op.Groups) == 0 &&
		len(op.GroupsOf) == 0 && len(op.MembersOf) == 0 && !op.AllUsers
}

// SetSeat records the seat change of a user (0: none).
func (op *Operation) SetSeat(user string, c SeatChange) {
	if c.Delta == 0 && !c.Delete {
		delete(op.Seats, user)
		return
	}
	if op.Seats == nil {
		op.Seats = map[string]SeatChange{}
	}
	op.Seats[user] = c
}

// maxListed bounds the ids an operation lists; beyond, AllUsers.
const maxListed = 1000

// AddUsers adds users whose versions the operation advances.
func (op *Operation) AddUsers(ids ...string) {
	if op.AllUsers {
		return
	}
	for _, id := range ids {
		if !slices.Contains(op.Users, id) {
			op.Users = append(op.Users, id)
		}
	}
	if len(op.Users) > maxListed {
		op.Users, op.AllUsers = nil, true
	}
}

// AddGroups adds groups whose versions the operation advances.
func (op *Operation) AddGroups(ids ...string) {
	for _, id := range ids {
		if !slices.Contains(op.Groups, id) {
			op.Groups = append(op.Groups, id)
		}
	}
}

// Reserved is the number of seats the recorded entries hold: the users
// that start using one.
func Reserved(seats map[string]SeatChange) int {
	n := 0
	for _, c := range seats {
		n += max(c.Delta, 0)
	}
	return n
}

// Settlement is what ending an operation moves the counter by: seats of
// users whose write did not land given back, seats a landed write freed
// taken off.
func (op *Operation) Settlement() int {
	n := 0
	for u, c := range op.Recorded {
		switch landed := op.Landed[u]; {
		case !landed && c.Delta > 0:
			n -= c.Delta
		case landed && c.Delta < 0:
			n += c.Delta
		}
	}
	return n
}

// MarkSeatOp adds the operation to a user's SeatOps, as the user's write
// must carry it (when the operation changes its seat), dropping those
// older than SeatOpsKept.
func MarkSeatOp(r *Resource, op string) {
	kept := r.SeatOps[:0:0]
	for _, id := range r.SeatOps {
		if id != op && time.Since(IDTime(id)) < SeatOpsKept {
			kept = append(kept, id)
		}
	}
	r.SeatOps = append(kept, op)
}

// IDTime is the time a time-ordered id (NewID) was made (zero for other ids).
func IDTime(id string) time.Time {
	u, err := uuid.Parse(id)
	if err != nil || u.Version() != 7 {
		return time.Time{}
	}
	sec, nsec := u.Time().UnixTime()
	return time.Unix(sec, nsec)
}

var holder = NewID()

// Holder identifies this process among the servers of a database (a
// random id, new at each start).
func Holder() string { return holder }

type operationKey struct{}

// WithOperation returns a context carrying the operation, for the stores'
// writes within it (MongoDB checks its lease before each).
func WithOperation(ctx context.Context, op *Operation) context.Context {
	return context.WithValue(ctx, operationKey{}, op)
}

// OperationOf returns the operation a context carries (nil: none).
func OperationOf(ctx context.Context) *Operation {
	op, _ := ctx.Value(operationKey{}).(*Operation)
	return op
}

type backgroundKey struct{}

// Background marks a context as the server's own work in the background
// (removing ended operations' records, recovering operations), so that
// tests counting a request's round trips leave it out.
func Background(ctx context.Context) context.Context {
	return context.WithValue(ctx, backgroundKey{}, true)
}

// IsBackground reports whether ctx is marked by Background.
func IsBackground(ctx context.Context) bool { return ctx.Value(backgroundKey{}) != nil }
