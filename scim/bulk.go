package scim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/timecamp/timecamp-scim/directory"
	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/metrics"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
)

// Bulk limits, advertised in /ServiceProviderConfig.
const (
	BulkMaxOperations = 1000
	BulkMaxPayload    = 4 << 20
)

// bulkRef is how a Bulk request refers to a resource created by one of its
// own POST operations (RFC 7644 §3.7.2).
const bulkRef = "bulkId:"

// bulkOp is one operation of a Bulk request and, once run, its result.
type bulkOp struct {
	index   int
	method  string
	bulkID  string
	version string
	path    string
	data    any
	refs    []string // bulkIds the path and data refer to
	invalid error    // why the operation cannot run, found when reading it

	done   bool
	result map[string]any
}

// bulkRun executes a Bulk request: operations in request order, except
// that an operation waits for the POSTs whose bulkIds it refers to, so
// references resolve whatever the order. Runs of POST /Users are created
// as one batch (directory.CreateUsers); every operation goes through the
// same directory calls as a single request.
type bulkRun struct {
	s            *Server
	r            *http.Request
	account      string
	ops          []*bulkOp
	failOnErrors int
	errors       int
	succeeded    int
	// unavailable is the error of the operation the database could not
	// serve: processing stops there (each further operation would wait
	// for the database in vain).
	unavailable error
	defined     map[string]*bulkOp // bulkId → the POST defining it
	ids         map[string]string  // bulkId → id of the created resource
	// users are the ids of users this request created, or found when it
	// looked up the members its group operations add (once, for all of
	// them): the group operations do not look these up again.
	users      map[string]bool
	prefetched bool
}

func (s *Server) bulk(w http.ResponseWriter, r *http.Request) {
	body, err := decodeBulk(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	run := &bulkRun{s: s, r: r, account: accountID(r.Context()), defined: map[string]*bulkOp{}, ids: map[string]string{}, users: map[string]bool{}}
	if err := run.parse(body); err != nil {
		s.writeError(w, r, err)
		return
	}
	run.execute(r.Context())
	if run.unavailable != nil && run.succeeded == 0 {
		// Nothing was done: the request as a whole is retried.
		s.writeError(w, r, run.unavailable)
		return
	}
	// With failOnErrors, the operations not attempted are left out (RFC
	// 7644 §3.7.3: the response holds the results of those processed).
	results := make([]any, 0, len(run.ops))
	for _, op := range run.ops {
		if !op.done {
			metrics.BulkOperation(op.method, metrics.BulkSkipped)
			continue
		}
		results = append(results, op.result)
		status, _ := strconv.Atoi(str(op.result["status"]))
		metrics.BulkOperation(op.method, status)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"schemas":    []string{schemas.BulkResponseURN},
		"Operations": results,
	})
}

func decodeBulk(r *http.Request) (map[string]any, error) {
	raw, err := readBody(r, BulkMaxPayload)
	if failure.Is(err, failure.TooLarge) {
		return nil, failure.TooLargef("the Bulk request is larger than maxPayloadSize (%d bytes); split it", BulkMaxPayload)
	}
	if err != nil {
		return nil, err
	}
	return keepBody(r)(decodeJSON(raw))
}

func (b *bulkRun) parse(body map[string]any) error {
	if err := requireSchema(body, schemas.BulkRequestURN); err != nil {
		return err
	}
	var list []any
	for k, v := range body {
		switch strings.ToLower(k) {
		case "failonerrors":
			n, err := intField("failOnErrors", v)
			if err != nil || n < 0 {
				return failure.InvalidValue("failOnErrors must be a non-negative integer")
			}
			b.failOnErrors = n
		case "operations":
			l, ok := v.([]any)
			if !ok {
				return failure.InvalidSyntax("Operations must be a list of operations")
			}
			list = l
		}
	}
	if len(list) == 0 {
		return failure.InvalidValue("a Bulk request needs \"Operations\"")
	}
	if len(list) > BulkMaxOperations {
		return failure.TooLargef("the Bulk request has %d operations; maxOperations is %d", len(list), BulkMaxOperations)
	}
	for i, el := range list {
		op := &bulkOp{index: i}
		b.ops = append(b.ops, op)
		op.invalid = b.parseOp(op, el)
	}
	return nil
}

func (b *bulkRun) parseOp(op *bulkOp, el any) error {
	m, ok := el.(map[string]any)
	if !ok {
		return failure.InvalidSyntax("each operation must be an object")
	}
	for k, v := range m {
		switch strings.ToLower(k) {
		case "method":
			op.method = strings.ToUpper(str(v))
		case "bulkid":
			op.bulkID = str(v)
		case "version":
			op.version = str(v)
		case "path":
			op.path = str(v)
		case "data":
			op.data = v
		}
	}
	switch op.method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return failure.InvalidSyntax("method must be POST, PUT, PATCH or DELETE, got %q", op.method)
	}
	if op.method == http.MethodPost {
		if op.bulkID == "" {
			return failure.InvalidSyntax("a POST operation needs a bulkId")
		}
		if prev, dup := b.defined[op.bulkID]; dup {
			return failure.InvalidValue("bulkId %q is already used by operation %d", op.bulkID, prev.index+1)
		}
		b.defined[op.bulkID] = op
	}
	if op.method != http.MethodDelete {
		if _, ok := op.data.(map[string]any); !ok {
			return failure.InvalidSyntax("a %s operation needs \"data\" (an object)", op.method)
		}
	}
	if _, _, err := b.target(op); err != nil {
		return err
	}
	op.refs = bulkRefs(op.path, op.data)
	return nil
}

// target reads an operation's path: the resource type and, except for
// POST, the id (which may be a bulkId reference).
func (b *bulkRun) target(op *bulkOp) (*schemas.ResourceType, string, error) {
	p := strings.Trim(strings.TrimPrefix(op.path, Prefix), "/")
	endpoint, id, _ := strings.Cut(p, "/")
	for _, rt := range schemas.ResourceTypes() {
		if !strings.EqualFold("/"+endpoint, rt.Endpoint) {
			continue
		}
		if op.method == http.MethodPost && id != "" {
			return nil, "", failure.InvalidPath("a POST path is a resource type such as %s, got %q", rt.Endpoint, op.path)
		}
		if op.method != http.MethodPost && id == "" {
			return nil, "", failure.InvalidPath("a %s path names a resource, e.g. %s/<id>, got %q", op.method, rt.Endpoint, op.path)
		}
		return rt, id, nil
	}
	return nil, "", failure.InvalidPath("path %q is not a resource endpoint (/Users, /Groups, /Projects)", op.path)
}

// bulkRefs finds the bulkIds referred to in a path and data.
func bulkRefs(path string, data any) []string {
	var refs []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			if strings.HasPrefix(x, bulkRef) {
				refs = append(refs, strings.TrimPrefix(x, bulkRef))
			}
		case []any:
			for _, el := range x {
				walk(el)
			}
		case map[string]any:
			for _, el := range x {
				walk(el)
			}
		}
	}
	if _, id, ok := strings.Cut(strings.Trim(path, "/"), "/"); ok {
		walk(id)
	}
	walk(data)
	return refs
}

// resolve replaces bulkId references by the ids of the created resources.
func (b *bulkRun) resolve(v any) any {
	switch x := v.(type) {
	case string:
		if strings.HasPrefix(x, bulkRef) {
			if id, ok := b.ids[strings.TrimPrefix(x, bulkRef)]; ok {
				return id
			}
		}
		return x
	case []any:
		out := make([]any, len(x))
		for i, el := range x {
			out[i] = b.resolve(el)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, el := range x {
			out[k] = b.resolve(el)
		}
		return out
	}
	return v
}

// ready reports whether an operation can run: every bulkId it refers to
// is resolved, or can never be (then it runs to fail).
func (b *bulkRun) ready(op *bulkOp) bool {
	for _, ref := range op.refs {
		def, ok := b.defined[ref]
		if ok && !def.done {
			return false
		}
	}
	return true
}

// unresolved explains why a reference of a ready operation cannot be used.
func (b *bulkRun) unresolved(op *bulkOp) error {
	for _, ref := range op.refs {
		if _, ok := b.ids[ref]; ok {
			continue
		}
		def, ok := b.defined[ref]
		if !ok {
			return failure.InvalidValue("bulkId %q is not defined by a POST operation of this request", ref)
		}
		return &failure.Error{Kind: failure.Conflict, Detail: fmt.Sprintf("bulkId %q refers to operation %d, which failed", ref, def.index+1)}
	}
	return nil
}

func (b *bulkRun) execute(ctx context.Context) {
	for {
		if b.stopped() {
			return // the rest is not attempted
		}
		i := b.next()
		if i < 0 {
			break
		}
		op := b.ops[i]
		if op.invalid != nil {
			b.fail(op, op.invalid)
			continue
		}
		if err := b.unresolved(op); err != nil {
			b.fail(op, err)
			continue
		}
		if batch := b.userBatch(i); len(batch) > 1 {
			b.createUsers(ctx, batch)
			continue
		}
		b.runOne(ctx, op)
	}
	// What is left waits on itself: circular references (RFC 7644 §3.7.2
	// allows answering 409).
	for _, op := range b.ops {
		if !op.done {
			b.fail(op, &failure.Error{Kind: failure.Conflict, Detail: "circular bulkId references: the operations refer to each other's bulkIds"})
		}
	}
}

// stopped: failOnErrors is reached, or the database is unreachable. The
// operations not attempted are left out of the response (RFC 7644
// §3.7.3), so a client retries exactly those.
func (b *bulkRun) stopped() bool {
	return b.unavailable != nil || b.failOnErrors > 0 && b.errors >= b.failOnErrors
}

// next returns the first operation, in request order, that can run.
func (b *bulkRun) next() int {
	for i, op := range b.ops {
		if !op.done && b.ready(op) {
			return i
		}
	}
	return -1
}

// userBatch returns the run of POST /Users operations starting at i that
// can be created together. With failOnErrors set, operations run one by
// one so that processing stops exactly at the limit.
func (b *bulkRun) userBatch(i int) []*bulkOp {
	if b.failOnErrors > 0 {
		return nil
	}
	var batch []*bulkOp
	for _, op := range b.ops[i:] {
		if op.done {
			continue
		}
		rt, _, _ := b.target(op)
		if op.invalid != nil || op.method != http.MethodPost || rt != schemas.User || !b.ready(op) || b.unresolved(op) != nil {
			break
		}
		batch = append(batch, op)
	}
	return batch
}

func (b *bulkRun) createUsers(ctx context.Context, batch []*bulkOp) {
	bodies := make([]map[string]any, len(batch))
	for k, op := range batch {
		bodies[k] = b.resolve(op.data).(map[string]any)
	}
	created, errs, err := b.s.dir.CreateUsers(ctx, b.account, bodies)
	for k, op := range batch {
		switch {
		case err != nil:
			b.fail(op, err)
		case errs[k] != nil:
			b.fail(op, errs[k])
		default:
			b.succeed(op, schemas.User, created[k], http.StatusCreated)
		}
	}
}

func (b *bulkRun) runOne(ctx context.Context, op *bulkOp) {
	rt, id, _ := b.target(op)
	id = b.resolve(id).(string)
	var data map[string]any
	if op.data != nil {
		data = b.resolve(op.data).(map[string]any)
	}
	if rt == schemas.Group && op.method != http.MethodDelete {
		b.prefetchMembers(ctx)
		ctx = directory.WithKnownUsers(ctx, b.users)
	}
	var res *store.Resource
	var err error
	status := http.StatusOK
	switch op.method {
	case http.MethodPost:
		res, err = b.s.dir.Create(ctx, b.account, rt, data)
		status = http.StatusCreated
	case http.MethodPut:
		res, err = b.s.dir.Replace(ctx, b.account, rt, id, data, op.version)
	case http.MethodPatch:
		var ops []directory.PatchOp
		if ops, err = patchOperations(data); err == nil {
			res, err = b.s.dir.Patch(ctx, b.account, rt, id, ops, op.version)
		}
	case http.MethodDelete:
		err = b.s.dir.Delete(ctx, b.account, rt, id, op.version)
		status = http.StatusNoContent
		if err == nil && rt == schemas.User {
			delete(b.users, id)
		}
	}
	if err != nil {
		b.fail(op, err)
		return
	}
	if res == nil {
		op.done = true
		b.succeeded++
		op.result = b.baseResult(op)
		op.result["status"] = strconv.Itoa(status)
		return
	}
	b.succeed(op, rt, res, status)
}

// prefetchMembers looks up, in one query, the users that the group
// operations not run yet add as members (those given by id; bulkId
// references are users this request creates). Without it each group
// operation looks its members up itself, and on the embedded database
// each lookup reads all the account's users: importing people into 20
// groups would read them 20 times. An id not found is left to the
// operation, which refuses it as usual.
func (b *bulkRun) prefetchMembers(ctx context.Context) {
	if b.prefetched {
		return
	}
	b.prefetched = true
	var ids []string
	seen := map[string]bool{}
	for _, op := range b.ops {
		if op.done || op.invalid != nil || op.method == http.MethodDelete {
			continue
		}
		if rt, _, _ := b.target(op); rt != schemas.Group {
			continue
		}
		for _, id := range memberRefs(op.method, op.data) {
			if !strings.HasPrefix(id, bulkRef) && !b.users[id] && !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	if len(ids) < 2 {
		return
	}
	found, err := b.s.store.Existing(ctx, schemas.User, b.account, ids)
	if err != nil {
		return // each operation checks its members itself
	}
	for id := range found {
		b.users[id] = true
	}
}

// memberRefs returns the member ids a group operation adds: "members" of
// a POST or PUT, the values of PATCH "add" and "replace" operations on
// "members" (or with no path and a value holding "members").
func memberRefs(method string, data any) []string {
	var out []string
	collect := func(v any) {
		list, ok := v.([]any)
		if !ok {
			list = []any{v}
		}
		for _, el := range list {
			if m, ok := el.(map[string]any); ok {
				el = field(m, "value")
			}
			if s, ok := el.(string); ok {
				out = append(out, strings.TrimSpace(s))
			}
		}
	}
	m, _ := data.(map[string]any)
	if method != http.MethodPatch {
		if v := field(m, "members"); v != nil {
			collect(v)
		}
		return out
	}
	ops, _ := field(m, "Operations").([]any)
	for _, el := range ops {
		po, _ := el.(map[string]any)
		if kind := strings.ToLower(str(field(po, "op"))); kind != "add" && kind != "replace" {
			continue
		}
		switch path := str(field(po, "path")); {
		case path == "":
			if value, ok := field(po, "value").(map[string]any); ok {
				if v := field(value, "members"); v != nil {
					collect(v)
				}
			}
		case strings.EqualFold(path, "members"):
			collect(field(po, "value"))
		}
	}
	return out
}

// field reads a key of a JSON object without regard to case.
func field(m map[string]any, key string) any {
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return nil
}

func (b *bulkRun) baseResult(op *bulkOp) map[string]any {
	m := map[string]any{"method": op.method}
	if op.bulkID != "" {
		m["bulkId"] = op.bulkID
	}
	return m
}

func (b *bulkRun) succeed(op *bulkOp, rt *schemas.ResourceType, res *store.Resource, status int) {
	op.done = true
	b.succeeded++
	if rt == schemas.User && op.method == http.MethodPost {
		b.users[res.ID] = true
	}
	if op.bulkID != "" {
		b.ids[op.bulkID] = res.ID
	}
	op.result = b.baseResult(op)
	op.result["location"] = location(b.s.base(b.r), rt, res.ID)
	op.result["version"] = directory.ETag(res.Version)
	op.result["status"] = strconv.Itoa(status)
}

func (b *bulkRun) fail(op *bulkOp, err error) {
	op.done = true
	b.errors++
	if failure.Is(err, failure.Unavailable) && b.unavailable == nil {
		b.unavailable = err
	}
	_, body := errorResponse(b.r.Context(), b.s.log, err)
	op.result = b.baseResult(op)
	op.result["status"] = body.Status
	op.result["response"] = body
}

func str(v any) string {
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x)
	case json.Number:
		return x.String()
	}
	return ""
}
