package mongodb_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"testing"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
	"github.com/timecamp/timecamp-scim/store/mongodb"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

func BenchmarkProbeLookup(b *testing.B) {
	log := storetest.NewCommandLog("probe_x")
	st, err := mongodb.Open(context.Background(), mongodb.Config{URI: os.Getenv("PROBE_URI"), Database: "probe_x", Monitor: log.Monitor()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.DropDatabase(context.Background())
	c := scimtest.NewOn(b, st).Client
	before := log.Len()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		name := fmt.Sprintf("U%d@EXAMPLE.COM", (i*37)%100)
		c.Get(b, "/Users?filter="+url.QueryEscape(`userName eq "`+name+`"`)).Expect(b, http.StatusOK)
	}
	breakdown(b, b.N, log.Commands()[before:])
}
