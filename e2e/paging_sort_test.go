package e2e

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
)

// Issue 2, points 2 and 3: paging, and sorting.
func TestPagingAndSorting(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.Client

	// Five users whose userName order, familyName order and creation order
	// all differ.
	pause := func() { time.Sleep(5 * time.Millisecond) }
	charlie := createUser(t, c, "Charlie", obj{"name": obj{"familyName": "smith"}, "emails": arr{obj{"type": "work", "value": "charlie@p.example"}}})
	pause()
	alice := createUser(t, c, "alice", obj{"name": obj{"familyName": "Adams"}, "emails": arr{obj{"type": "work", "value": "alice@p.example"}}})
	pause()
	bob := createUser(t, c, "Bob", obj{"name": obj{"familyName": "brown"}, "emails": arr{obj{"type": "home", "value": "bob@p.example"}}})
	pause()
	dave := createUser(t, c, "dave", obj{"name": obj{"familyName": "Clark"}, "emails": arr{obj{"type": "work", "value": "dave@p.example"}}})
	pause()
	eve := createUser(t, c, "Eve")
	n := names{alice: "alice", bob: "bob", charlie: "charlie", dave: "dave", eve: "eve"}
	creation := []string{charlie, alice, bob, dave, eve}
	byUserName := []string{alice, bob, charlie, dave, eve}

	t.Run("pages", func(t *testing.T) {
		var seen []string
		for _, start := range []int{1, 3, 5} {
			r := c.Get(t, "/Users"+query("sortBy", "userName", "startIndex", strconv.Itoa(start), "count", "2")).Expect(t, 200)
			if num(r, "totalResults") != 5 || num(r, "startIndex") != start {
				t.Fatalf("page at %d: %s", start, r.Raw)
			}
			ids := listIDs(t, r)
			if num(r, "itemsPerPage") != len(ids) {
				t.Fatalf("itemsPerPage %d, %d resources", num(r, "itemsPerPage"), len(ids))
			}
			seen = append(seen, ids...)
		}
		if fmt.Sprint(n.of(seen)) != fmt.Sprint(n.of(byUserName)) {
			t.Fatalf("pages together: %v, want %v", n.of(seen), n.of(byUserName))
		}
	})

	t.Run("pages in creation order without sortBy", func(t *testing.T) {
		var seen []string
		for start := 1; start <= 5; start += 2 {
			seen = append(seen, listIDs(t, c.Get(t, "/Users"+query("startIndex", strconv.Itoa(start), "count", "2")).Expect(t, 200))...)
		}
		if fmt.Sprint(n.of(seen)) != fmt.Sprint(n.of(creation)) {
			t.Fatalf("pages together: %v, want %v", n.of(seen), n.of(creation))
		}
	})

	t.Run("pages of a filter checked in memory", func(t *testing.T) {
		// A value filter with "and" needs both conditions on one email.
		f := `emails[type eq "work" and value ew "@p.example"]`
		all := c.Get(t, filterPath("/Users", f, "sortBy", "userName"))
		expectOrder(t, n, all, alice, charlie, dave)
		r := c.Get(t, filterPath("/Users", f, "sortBy", "userName", "startIndex", "2", "count", "1"))
		expectOrder(t, n, r, charlie)
		if num(r, "totalResults") != 3 || num(r, "itemsPerPage") != 1 || num(r, "startIndex") != 2 {
			t.Fatalf("page: %s", r.Raw)
		}
		r = c.Get(t, filterPath("/Users", f, "sortBy", "userName", "startIndex", "3", "count", "5"))
		expectOrder(t, n, r, dave)
		if num(r, "totalResults") != 3 {
			t.Fatalf("totalResults: %s", r.Raw)
		}
	})

	t.Run("count=0 returns only the total", func(t *testing.T) {
		for _, path := range []string{"/Users?count=0", "/Users?count=-3", filterPath("/Users", `userName sw "a" or userName sw "b"`, "count", "0")} {
			r := c.Get(t, path).Expect(t, 200)
			want := 5
			if path != "/Users?count=0" && path != "/Users?count=-3" {
				want = 2
			}
			if num(r, "totalResults") != want {
				t.Fatalf("%s: totalResults %d, want %d", path, num(r, "totalResults"), want)
			}
			if list, ok := r.Body["Resources"].([]any); r.Body["Resources"] != nil && (!ok || len(list) != 0) {
				t.Fatalf("%s: resources returned: %s", path, r.Raw)
			}
			if ipp := num(r, "itemsPerPage"); ipp != 0 {
				t.Fatalf("%s: itemsPerPage %d", path, ipp)
			}
		}
	})

	t.Run("past the end", func(t *testing.T) {
		r := c.Get(t, "/Users?startIndex=6&count=10").Expect(t, 200)
		if num(r, "totalResults") != 5 || num(r, "itemsPerPage") != 0 || len(resources(t, r)) != 0 {
			t.Fatalf("past the end: %s", r.Raw)
		}
	})

	t.Run("startIndex below 1 means 1", func(t *testing.T) {
		r := c.Get(t, "/Users"+query("sortBy", "userName", "startIndex", "0", "count", "1"))
		expectOrder(t, n, r, alice)
		if num(r, "startIndex") != 1 {
			t.Fatalf("startIndex: %s", r.Raw)
		}
	})

	t.Run("bad numbers", func(t *testing.T) {
		expectError(t, c.Get(t, "/Users?count=ten"), http.StatusBadRequest, "invalidValue")
		expectError(t, c.Get(t, "/Users?startIndex=x"), http.StatusBadRequest, "invalidValue")
	})

	t.Run(".search pages and sorts", func(t *testing.T) {
		r := c.Post(t, "/Users/.search", obj{
			"schemas": arr{searchURN}, "sortBy": "name.familyName", "sortOrder": "descending",
			"startIndex": 2, "count": 2,
		})
		// familyName descending: eve (none) first, smith, Clark, brown, Adams.
		expectOrder(t, n, r, charlie, dave)
		if num(r, "totalResults") != 5 || num(r, "startIndex") != 2 || num(r, "itemsPerPage") != 2 {
			t.Fatalf("search page: %s", r.Raw)
		}
	})

	t.Run("sortBy userName ignores case", func(t *testing.T) {
		expectOrder(t, n, c.Get(t, "/Users?sortBy=userName"), byUserName...)
		expectOrder(t, n, c.Get(t, "/Users?sortBy=userName&sortOrder=ascending"), byUserName...)
		expectOrder(t, n, c.Get(t, "/Users?sortBy=userName&sortOrder=descending"), eve, dave, charlie, bob, alice)
		expectOrder(t, n, c.Get(t, "/Users?sortBy=USERNAME&sortOrder=Descending"), eve, dave, charlie, bob, alice)
	})

	t.Run("sortBy name.familyName", func(t *testing.T) {
		// RFC 7644 §3.4.2.3: resources without a value are ordered last
		// when ascending and first when descending.
		expectOrder(t, n, c.Get(t, "/Users?sortBy=name.familyName"), alice, bob, dave, charlie, eve)
		expectOrder(t, n, c.Get(t, "/Users?sortBy=name.familyName&sortOrder=descending"), eve, charlie, dave, bob, alice)
		expectOrder(t, n, c.Get(t, "/Users?sortBy=name.familyName&count=2&startIndex=4"), charlie, eve)
		expectOrder(t, n, c.Get(t, "/Users?sortBy=name.familyName&count=2&startIndex=5"), eve)
		expectOrder(t, n, c.Get(t, "/Users?sortBy=name.familyName&sortOrder=descending&count=2"), eve, charlie)
		// The same with a filter checked in memory.
		f := `emails[type eq "work" and value ew "@p.example"] or userName eq "eve"`
		expectOrder(t, n, c.Get(t, filterPath("/Users", f, "sortBy", "name.familyName")), alice, dave, charlie, eve)
		expectOrder(t, n, c.Get(t, filterPath("/Users", f, "sortBy", "name.familyName", "sortOrder", "descending")), eve, charlie, dave, alice)
		expectOrder(t, n, c.Get(t, filterPath("/Users", f, "sortBy", "name.familyName", "startIndex", "3", "count", "5")), charlie, eve)
	})

	t.Run("sortBy meta.created", func(t *testing.T) {
		expectOrder(t, n, c.Get(t, "/Users?sortBy=meta.created"), creation...)
		expectOrder(t, n, c.Get(t, "/Users?sortBy=meta.created&sortOrder=descending"), eve, dave, bob, alice, charlie)
	})

	t.Run("sortBy meta.lastModified", func(t *testing.T) {
		order := []string{dave, charlie, eve, alice, bob}
		var last string
		for _, id := range order {
			pause()
			r := c.Patch(t, "/Users/"+id, scimtest.Op("replace", "title", "touched "+n[id])).Expect(t, 200)
			mod := r.Str("meta.lastModified")
			if mod <= last {
				t.Fatalf("lastModified not increasing: %s after %s", mod, last)
			}
			last = mod
		}
		expectOrder(t, n, c.Get(t, "/Users?sortBy=meta.lastModified"), order...)
		expectOrder(t, n, c.Get(t, "/Users?sortBy=meta.lastModified&sortOrder=descending"), bob, alice, eve, charlie, dave)
	})

	t.Run("sortBy with a filter", func(t *testing.T) {
		expectOrder(t, n, c.Get(t, filterPath("/Users", `emails pr`, "sortBy", "name.familyName", "sortOrder", "descending")), charlie, dave, bob, alice)
	})

	t.Run("sortBy a multi-valued attribute", func(t *testing.T) {
		for _, by := range []string{"emails", "emails.value", "groups"} {
			expectError(t, c.Get(t, "/Users?sortBy="+by), http.StatusBadRequest, "")
		}
		expectError(t, c.Get(t, "/Groups?sortBy=members"), http.StatusBadRequest, "")
		expectError(t, c.Post(t, "/Users/.search", obj{"schemas": arr{searchURN}, "sortBy": "emails"}), http.StatusBadRequest, "")
	})

	t.Run("sortBy unknown or bad order", func(t *testing.T) {
		expectError(t, c.Get(t, "/Users?sortBy=nosuch"), http.StatusBadRequest, "")
		expectError(t, c.Get(t, "/Users?sortBy=userName&sortOrder=sideways"), http.StatusBadRequest, "")
	})

	t.Run("groups sort by displayName", func(t *testing.T) {
		gb := createGroup(t, c, "beta")
		ga := createGroup(t, c, "Alpha")
		gc := createGroup(t, c, "Gamma")
		n[ga], n[gb], n[gc] = "Alpha", "beta", "Gamma"
		expectOrder(t, n, c.Get(t, "/Groups?sortBy=displayName"), ga, gb, gc)
		expectOrder(t, n, c.Get(t, "/Groups?sortBy=displayName&sortOrder=descending"), gc, gb, ga)
	})
}

// The page size is clamped to the maxResults advertised in
// /ServiceProviderConfig.
func TestPageSizeIsClamped(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.Client
	spc := c.Get(t, "/ServiceProviderConfig").Expect(t, 200)
	max := num(spc, "filter.maxResults")
	if max < 1 || max > 5000 {
		t.Fatalf("filter.maxResults %d", max)
	}
	// One group more than a page holds.
	total := max + 1
	var wg sync.WaitGroup
	errs := make(chan string, total)
	work := make(chan int)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				r := c.Post(t, "/Groups", scimtest.GroupBody(fmt.Sprintf("group-%05d", i)))
				if r.Status != http.StatusCreated {
					errs <- fmt.Sprintf("group %d: %d %s", i, r.Status, r.Raw)
				}
			}
		}()
	}
	for i := 0; i < total; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}

	for _, path := range []string{
		"/Groups?count=" + strconv.Itoa(max+500),
		"/Groups?excludedAttributes=members",
		"/Groups?count=" + strconv.Itoa(max+500) + "&sortBy=displayName",
	} {
		r := c.Get(t, path).Expect(t, 200)
		if num(r, "totalResults") != total {
			t.Fatalf("%s: totalResults %d, want %d", path, num(r, "totalResults"), total)
		}
		if got := len(resources(t, r)); got != max || num(r, "itemsPerPage") != max {
			t.Fatalf("%s: %d resources, itemsPerPage %d; want %d", path, got, num(r, "itemsPerPage"), max)
		}
	}
	r := c.Post(t, "/Groups/.search", obj{"schemas": arr{searchURN}, "count": max + 1, "attributes": arr{"displayName"}}).Expect(t, 200)
	if len(resources(t, r)) != max {
		t.Fatalf(".search returned %d resources, want %d", len(resources(t, r)), max)
	}
	// The rest is on the next page.
	r = c.Get(t, "/Groups?sortBy=displayName&startIndex="+strconv.Itoa(max+1)).Expect(t, 200)
	if ids := resources(t, r); len(ids) != 1 || ids[0]["displayName"] != fmt.Sprintf("group-%05d", max) {
		t.Fatalf("last page: %s", r.Raw)
	}
}
