package mongodb_test

import (
	"context"
	"reflect"
	"testing"

	filter "github.com/scim2/filter-parser/v2"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/store/mongodb"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

// Documents written before layout 2 hold a group's and a project's parent
// as the id alone; opening the store rewrites them as references
// {"value": id}, once.
func TestUpgradeParentsToReferences(t *testing.T) {
	ctx := context.Background()
	uri, err := storetest.URI()
	if err != nil {
		t.Fatal(err)
	}
	db := storetest.DatabaseName()
	open := func() *mongodb.Store {
		st, err := mongodb.Open(ctx, mongodb.Config{URI: uri, Database: db})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := open()
	t.Cleanup(func() { _ = st.DropDatabase(context.Background()); _ = st.Close(context.Background()) })
	acc, err := st.CreateAccount(ctx, "old", 0)
	if err != nil {
		t.Fatal(err)
	}
	top := &store.Resource{Type: schemas.Group, ID: store.NewID(), Account: acc.ID, Attributes: map[string]any{"displayName": "Top"}}
	sub := &store.Resource{Type: schemas.Group, ID: store.NewID(), Account: acc.ID, Attributes: map[string]any{"displayName": "Sub",
		schemas.TimeCampGroupURN: map[string]any{"parent": map[string]any{"value": top.ID}}}}
	apollo := &store.Resource{Type: schemas.Project, ID: store.NewID(), Account: acc.ID, Attributes: map[string]any{"displayName": "Apollo"}}
	lander := &store.Resource{Type: schemas.Project, ID: store.NewID(), Account: acc.ID, Attributes: map[string]any{"displayName": "Lander", "parent": map[string]any{"value": apollo.ID}}}
	for _, r := range []*store.Resource{top, sub, apollo, lander} {
		if err := st.Insert(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// Back to the earlier form, as an earlier version wrote it.
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(ctx)
	raw := client.Database(db)
	for _, u := range []struct{ coll, id, field, parent string }{
		{"groups", sub.ID, "a.urn:ietf:params:scim:schemas:extension:timecamp:2_0:Group.parent", top.ID},
		{"projects", lander.ID, "a.parent", apollo.ID},
	} {
		if _, err := raw.Collection(u.coll).UpdateOne(ctx, bson.M{"_id": u.id}, bson.M{"$set": bson.M{u.field: u.parent}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := raw.Collection("projects").UpdateOne(ctx, bson.M{"_id": lander.ID}, bson.M{"$set": bson.M{"parent": apollo.ID}}); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Collection("layout").DeleteMany(ctx, bson.M{}); err != nil {
		t.Fatal(err)
	}
	if g, err := st.Get(ctx, schemas.Group, acc.ID, sub.ID); err != nil || g.Attributes[schemas.TimeCampGroupURN].(map[string]any)["parent"] != top.ID {
		t.Fatalf("the earlier form was not set up: %v %v", g, err)
	}

	st2 := open()
	defer st2.Close(ctx)
	g, err := st2.Get(ctx, schemas.Group, acc.ID, sub.ID)
	if err != nil || !reflect.DeepEqual(g.Attributes[schemas.TimeCampGroupURN], map[string]any{"parent": map[string]any{"value": top.ID}}) {
		t.Fatalf("group after the upgrade: %v, %v", g, err)
	}
	p, err := st2.Get(ctx, schemas.Project, acc.ID, lander.ID)
	if err != nil || !reflect.DeepEqual(p.Attributes["parent"], map[string]any{"value": apollo.ID}) {
		t.Fatalf("project after the upgrade: %v, %v", p, err)
	}
	f, err := filter.ParseFilter([]byte(`parent eq "` + apollo.ID + `"`))
	if err != nil {
		t.Fatal(err)
	}
	page, err := st2.Find(ctx, schemas.Project, acc.ID, store.Query{Filter: f, Count: 10})
	if err != nil || page.Total != 1 || page.Resources[0].ID != lander.ID {
		t.Fatalf("projects under Apollo: %v, %v", page, err)
	}
}
