package scim

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/gorilla/mux"

	"github.com/timecamp/timecamp-scim/store"
)

// InProcessClient returns an HTTP client whose requests this server's SCIM
// API answers in the process, as the account, without a token; the
// activity log records the changes under actor. The admin console runs
// the CSV importer (a SCIM client, package csvimport) through it, so that
// an import from the console is exactly what "timecamp-scim import" does:
// the same checks, the same Bulk requests, the same rules. It is never
// reachable from the network: the account goes into the request's
// context, which only this package can write.
func (s *Server) InProcessClient(account *store.Account, actor store.Actor) *http.Client {
	s.inProcessOnce.Do(func() {
		r := mux.NewRouter()
		s.Routes(r)
		s.inProcess = s.middleware(r)
	})
	return &http.Client{Transport: inProcessTransport{h: s.inProcess, account: account, actor: actor}}
}

type inProcessTransport struct {
	h       http.Handler
	account *store.Account
	actor   store.Actor
}

func (t inProcessTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := context.WithValue(req.Context(), accountKey{}, t.account.ID)
	ctx = context.WithValue(ctx, actorKey{}, t.actor)
	w := &bufferedResponse{header: http.Header{}, status: http.StatusOK}
	t.h.ServeHTTP(w, req.WithContext(ctx))
	if req.Body != nil {
		_ = req.Body.Close()
	}
	return &http.Response{
		Status:        strconv.Itoa(w.status) + " " + http.StatusText(w.status),
		StatusCode:    w.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.header,
		Body:          io.NopCloser(&w.body),
		ContentLength: int64(w.body.Len()),
		Request:       req,
	}, nil
}

// bufferedResponse is a ResponseWriter that keeps the response.
type bufferedResponse struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (w *bufferedResponse) Header() http.Header { return w.header }

func (w *bufferedResponse) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
}

func (w *bufferedResponse) Write(b []byte) (int, error) {
	w.wrote = true
	return w.body.Write(b)
}

// inProcessState is the handler InProcessClient serves with, built once.
type inProcessState struct {
	inProcessOnce sync.Once
	inProcess     http.Handler
}
