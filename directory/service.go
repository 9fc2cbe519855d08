// Package directory holds the rules of an account's directory: creating,
// replacing, patching and deleting users and groups, with their
// memberships, on top of package store. It knows nothing of HTTP; the scim
// package (single requests and Bulk alike) calls it.
package directory

import (
	"context"
	"errors"
	"math/rand/v2"
	"reflect"
	"strconv"
	"time"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
)

// Service applies directory operations for one account at a time.
type Service struct {
	store *store.Store
}

// New returns a service on the store.
func New(st *store.Store) *Service { return &Service{store: st} }

// Store returns the underlying store.
func (s *Service) Store() *store.Store { return s.store }

// Create adds a resource from a POST (or Bulk POST) body.
func (s *Service) Create(ctx context.Context, account string, rt *schemas.ResourceType, body map[string]any) (*store.Resource, error) {
	attrs, err := rt.Normalize(body)
	if err != nil {
		return nil, err
	}
	r := &store.Resource{Type: rt, ID: store.NewID(), Account: account, Attributes: attrs}
	var members []string
	switch rt {
	case schemas.User:
		if err := takePassword(r, attrs); err != nil {
			return nil, err
		}
		if _, ok := attrs["active"]; !ok {
			attrs["active"] = true // a provisioned user is active unless told otherwise
		}
	case schemas.Group:
		if members, err = membersFromAttributes(attrs); err != nil {
			return nil, err
		}
		if err := s.checkMembers(ctx, account, members); err != nil {
			return nil, err
		}
	}
	if err := s.store.Insert(ctx, r); err != nil {
		return nil, err
	}
	if len(members) > 0 {
		if _, err := s.store.AddMembers(ctx, account, r.ID, members); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Get returns a resource of the account.
func (s *Service) Get(ctx context.Context, account string, rt *schemas.ResourceType, id string) (*store.Resource, error) {
	return s.store.Get(ctx, rt, account, id)
}

// List returns a page of the account's resources.
func (s *Service) List(ctx context.Context, account string, rt *schemas.ResourceType, q store.Query) (*store.Page, error) {
	return s.store.Find(ctx, rt, account, q)
}

// Replace replaces a resource from a PUT body (RFC 7644 §3.5.1): attributes
// the body omits are cleared, except the password, which is kept.
func (s *Service) Replace(ctx context.Context, account string, rt *schemas.ResourceType, id string, body map[string]any, ifMatch string) (*store.Resource, error) {
	attrs, err := rt.Normalize(body)
	if err != nil {
		return nil, err
	}
	var members *memberDelta
	if rt == schemas.Group {
		ids, err := membersFromAttributes(attrs)
		if err != nil {
			return nil, err
		}
		members = newMemberDelta()
		members.clear()
		members.addIDs(ids)
	}
	return s.update(ctx, account, rt, id, ifMatch, func(cur *store.Resource) (*change, error) {
		next := *cur
		next.Attributes = deepCopy(attrs).(map[string]any)
		if rt == schemas.User {
			if err := takePassword(&next, next.Attributes); err != nil {
				return nil, err
			}
		}
		return &change{next: &next, members: members}, nil
	})
}

// Patch applies PATCH operations (RFC 7644 §3.5.2), all or none.
func (s *Service) Patch(ctx context.Context, account string, rt *schemas.ResourceType, id string, ops []PatchOp, ifMatch string) (*store.Resource, error) {
	if len(ops) == 0 {
		return nil, failure.InvalidValue("a PATCH needs at least one operation in \"Operations\"")
	}
	return s.update(ctx, account, rt, id, ifMatch, func(cur *store.Resource) (*change, error) {
		var members *memberDelta
		if rt == schemas.Group {
			members = newMemberDelta()
		}
		p := newPatcher(rt, cur.Attributes, members)
		for i, op := range ops {
			if err := p.apply(op); err != nil {
				return nil, inOperation(err, i, len(ops))
			}
		}
		if err := rt.CheckRequired(p.attrs); err != nil {
			return nil, err
		}
		next := *cur
		next.Attributes = p.attrs
		if p.password != nil {
			if rt != schemas.User {
				return nil, failure.InvalidPath("%s has no password", rt.Name)
			}
			h, err := hashPassword(*p.password)
			if err != nil {
				return nil, err
			}
			next.PasswordHash = h
		}
		c := &change{members: members}
		if p.password != nil || !reflect.DeepEqual(cur.Attributes, p.attrs) {
			c.next = &next
		}
		return c, nil
	})
}

// inOperation says which operation failed when there are several.
func inOperation(err error, i, n int) error {
	f, ok := failure.As(err)
	if !ok || n == 1 {
		return err
	}
	g := *f
	g.Detail = "operation " + strconv.Itoa(i+1) + ": " + f.Detail
	return &g
}

// Delete removes a resource and its memberships.
func (s *Service) Delete(ctx context.Context, account string, rt *schemas.ResourceType, id, ifMatch string) error {
	var expect int64
	if ifMatch != "" {
		cur, err := s.store.Get(ctx, rt, account, id)
		if err != nil {
			return err
		}
		if !VersionMatches(ifMatch, cur.Version) {
			return preconditionFailed(rt, id, cur.Version)
		}
		expect = cur.Version
	}
	err := s.store.Delete(ctx, rt, account, id, expect)
	if errors.Is(err, store.ErrVersionMismatch) {
		return failure.Preconditionf("%s %q changed while it was being deleted; read it again", rt.Name, id)
	}
	if err != nil {
		return err
	}
	switch rt {
	case schemas.User:
		return s.store.LeaveAllGroups(ctx, account, id)
	case schemas.Group:
		return s.store.ClearMembers(ctx, account, id)
	}
	return nil
}

// change is what an update computed from the current resource: the new
// resource (nil when its document stays as it is) and membership changes.
type change struct {
	next    *store.Resource
	members *memberDelta
}

// maxAttempts bounds the retries of an update that keeps meeting
// concurrent writers.
const maxAttempts = 50

// update reads a resource, computes a change and writes it on condition
// that the resource is still at the version read. When another request
// wrote in between, it starts again from the new version, so concurrent
// updates (two PATCHes adding members to one group) are never lost; with
// If-Match the client pinned the version, and a change answers 412.
func (s *Service) update(ctx context.Context, account string, rt *schemas.ResourceType, id, ifMatch string, compute func(*store.Resource) (*change, error)) (*store.Resource, error) {
	checkedMembers := false
	for attempt := 0; ; attempt++ {
		cur, err := s.store.Get(ctx, rt, account, id)
		if err != nil {
			return nil, err
		}
		if ifMatch != "" && !VersionMatches(ifMatch, cur.Version) {
			return nil, preconditionFailed(rt, id, cur.Version)
		}
		c, err := compute(cur)
		if err != nil {
			return nil, err
		}
		hasMembers := c.members != nil && !c.members.empty()
		if hasMembers && !checkedMembers {
			if err := s.checkMembers(ctx, account, c.members.adds()); err != nil {
				return nil, err
			}
			checkedMembers = true
		}
		result := cur
		switch {
		case c.next != nil:
			err = s.store.Replace(ctx, c.next, cur.Version)
			result = c.next
		case hasMembers && ifMatch == "":
			// Only memberships change, each its own document: no write
			// can be lost, so apply them and advance the version only if
			// a membership was actually added or removed.
			n, err := s.applyMembers(ctx, account, id, c.members)
			if err != nil || n == 0 {
				return cur, err
			}
			result.Version, result.Modified, err = s.store.Bump(ctx, rt, account, id)
			if failure.Is(err, failure.NotFound) {
				// Deleted meanwhile: drop the memberships just written.
				if cerr := s.store.ClearMembers(ctx, account, id); cerr != nil {
					return nil, cerr
				}
			}
			if err != nil {
				return nil, err
			}
			return result, nil
		case hasMembers:
			// With If-Match the version must still be the client's when
			// the members change: claim it first.
			var v int64
			v, result.Modified, err = s.store.Touch(ctx, rt, account, id, cur.Version)
			result.Version = v
		default:
			return cur, nil // nothing changes: the version stays
		}
		if errors.Is(err, store.ErrVersionMismatch) {
			if ifMatch != "" {
				return nil, failure.Preconditionf("%s %q changed while this request was applied; read it again", rt.Name, id)
			}
			if attempt+1 >= maxAttempts {
				return nil, failure.Preconditionf("%s %q is being changed by many requests at once; try again", rt.Name, id)
			}
			backoff(attempt)
			continue
		}
		if err != nil {
			return nil, err
		}
		if hasMembers {
			if _, err := s.applyMembers(ctx, account, id, c.members); err != nil {
				return nil, err
			}
		}
		return result, nil
	}
}

func preconditionFailed(rt *schemas.ResourceType, id string, version int64) error {
	return failure.Preconditionf("%s %q is at version %s, not the one in If-Match; read it again before changing it", rt.Name, id, ETag(version))
}

// backoff waits a little, longer after each failed attempt, with jitter so
// that competing requests spread out.
func backoff(attempt int) {
	d := time.Duration(1+min(attempt, 10)) * time.Millisecond
	time.Sleep(d + time.Duration(rand.Int64N(int64(d))))
}
