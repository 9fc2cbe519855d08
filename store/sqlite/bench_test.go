package sqlite_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

// BenchmarkFindPage reads pages of 100 users out of 10,000 (the HTTP
// workloads are in package scim).
func BenchmarkFindPage(b *testing.B) {
	ctx := context.Background()
	st := storetest.NewSQLite(b)
	acct, err := st.CreateAccount(ctx, "A", 0)
	if err != nil {
		b.Fatal(err)
	}
	var rs []*store.Resource
	for i := range 10_000 {
		rs = append(rs, &store.Resource{Type: schemas.User, ID: store.NewID(), Account: acct.ID, Attributes: map[string]any{
			"userName": fmt.Sprintf("user%d@acme.test", i), "active": true,
			"name":   map[string]any{"givenName": "Given", "familyName": fmt.Sprint("Family", i)},
			"emails": []any{map[string]any{"value": fmt.Sprintf("user%d@acme.test", i), "type": "work", "primary": true}},
		}})
	}
	if _, err := st.InsertMany(ctx, rs); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		p, err := st.Find(ctx, schemas.User, acct.ID, store.Query{StartIndex: 1 + (i*37%100)*100, Count: 100})
		if err != nil || len(p.Resources) != 100 || p.Total != 10_000 {
			b.Fatalf("%v %d %d", err, len(p.Resources), p.Total)
		}
		i++
	}
}
