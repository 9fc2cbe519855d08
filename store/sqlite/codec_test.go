package sqlite

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/store"
)

// Invitations stored by encoding/json (every earlier version) read back
// the same, and what the store writes now reads back as encoding/json
// reads it.
func TestInvitationCodecAgreesWithEncodingJSON(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 30, 0, 123456789, time.UTC)
	for _, inv := range []*store.Invitation{
		{Status: store.InvitationNone},
		{ID: "a", Hash: "h", Status: store.InvitationPending, InvitedAt: at, ExpiresAt: at.Add(72 * time.Hour)},
		{ID: "b", Status: store.InvitationAccepted, InvitedAt: at, AcceptedAt: at.Add(time.Minute), Resends: []time.Time{at, at.Add(time.Second)}},
		{ID: "c", Hash: "h2", Status: store.InvitationPending, InvitedAt: at.In(time.FixedZone("x", 3600)), Resends: []time.Time{at}},
	} {
		old, err := json.Marshal(inv)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeInvitation(old)
		if err != nil {
			t.Fatalf("decode %s: %v", old, err)
		}
		if !sameInvitation(got, inv) {
			t.Errorf("decode(%s) = %+v, want %+v", old, got, inv)
		}
		now, err := encodeInvitation(inv)
		if err != nil {
			t.Fatal(err)
		}
		var back store.Invitation
		if err := json.Unmarshal(now, &back); err != nil {
			t.Fatalf("encoding/json reading %s: %v", now, err)
		}
		if !sameInvitation(&back, inv) {
			t.Errorf("encode(%+v) = %s, which reads as %+v", inv, now, back)
		}
	}
}

func sameInvitation(a, b *store.Invitation) bool {
	eq := func(x, y time.Time) bool { return x.Equal(y) }
	if a.ID != b.ID || a.Hash != b.Hash || a.Status != b.Status || !eq(a.InvitedAt, b.InvitedAt) || !eq(a.ExpiresAt, b.ExpiresAt) || !eq(a.AcceptedAt, b.AcceptedAt) || len(a.Resends) != len(b.Resends) {
		return false
	}
	for i := range a.Resends {
		if !eq(a.Resends[i], b.Resends[i]) {
			return false
		}
	}
	return true
}
