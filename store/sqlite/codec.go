package sqlite

import (
	"fmt"
	"time"

	"github.com/timecamp/timecamp-scim/jsonvalue"
	"github.com/timecamp/timecamp-scim/store"
)

// Attributes are stored as JSON that keeps the Go types the rest of the
// server uses: an integer (int64) is written without a fraction and a
// float64 always with one ("3.0"), so that a decimal 3 reads back as a
// float64 and an integer 2^53+1 as that exact int64. SQLite's JSON
// functions read the same text.

// encodeJSON writes a JSON-shaped value, floats always with a fraction.
func encodeJSON(v any) ([]byte, error) {
	return jsonvalue.Append(nil, v, jsonvalue.Options{KeepFloats: true})
}

// decodeJSON reads what encodeJSON wrote.
func decodeJSON(data []byte) (any, error) {
	return jsonvalue.Decode(data)
}

// decodeObject reads a stored JSON object. data is the store's own copy
// of the column, which nothing changes: the strings of the result share
// its memory (jsonvalue.DecodeOwned).
func decodeObject(data []byte) (map[string]any, error) {
	v, err := jsonvalue.DecodeOwned(data)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("stored attributes are not an object")
	}
	return m, nil
}

// A user's invitation is stored as the JSON encoding/json writes of
// store.Invitation (times in RFC 3339 with nanoseconds, zero times and
// empty strings left out); these read and write it through jsonvalue,
// several times faster than encoding/json's reflection, since every read
// of a user decodes it.

func encodeInvitation(inv *store.Invitation) ([]byte, error) {
	m := map[string]any{"status": inv.Status}
	str := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	tm := func(k string, t time.Time) {
		if !t.IsZero() {
			m[k] = t.Format(time.RFC3339Nano)
		}
	}
	str("id", inv.ID)
	str("hash", inv.Hash)
	tm("invitedAt", inv.InvitedAt)
	tm("expiresAt", inv.ExpiresAt)
	tm("acceptedAt", inv.AcceptedAt)
	if len(inv.Resends) > 0 {
		list := make([]any, len(inv.Resends))
		for i, t := range inv.Resends {
			list[i] = t.Format(time.RFC3339Nano)
		}
		m["resends"] = list
	}
	return encodeJSON(m)
}

func decodeInvitation(data []byte) (*store.Invitation, error) {
	m, err := decodeObject(data)
	if err != nil {
		return nil, err
	}
	inv := &store.Invitation{}
	inv.ID, _ = m["id"].(string)
	inv.Hash, _ = m["hash"].(string)
	inv.Status, _ = m["status"].(string)
	tm := func(k string) (time.Time, error) {
		s, ok := m[k].(string)
		if !ok {
			return time.Time{}, nil
		}
		return time.Parse(time.RFC3339Nano, s)
	}
	if inv.InvitedAt, err = tm("invitedAt"); err != nil {
		return nil, err
	}
	if inv.ExpiresAt, err = tm("expiresAt"); err != nil {
		return nil, err
	}
	if inv.AcceptedAt, err = tm("acceptedAt"); err != nil {
		return nil, err
	}
	if list, ok := m["resends"].([]any); ok {
		for _, el := range list {
			s, _ := el.(string)
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return nil, err
			}
			inv.Resends = append(inv.Resends, t)
		}
	}
	return inv, nil
}
