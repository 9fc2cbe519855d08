package scim

import (
	"context"
	"net/http"
	"strings"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/store"
)

type accountKey struct{}

// authenticate requires "Authorization: Bearer <token>" and puts the
// token's account into the request context. Every handler below works
// within that account only.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if accountOf(r.Context()) != nil {
			next.ServeHTTP(w, r) // served in process (InProcessClient)
			return
		}
		token, ok := bearerToken(r.Header.Get("Authorization"))
		if !ok {
			s.writeError(w, r, failure.Unauthorizedf("send the SCIM token as \"Authorization: Bearer <token>\""))
			return
		}
		acct, tok, err := s.store.Authenticate(r.Context(), token)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if info, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok {
			info.account, info.token = acct.ID, tok
		}
		s.noteTokenUse(r.Context(), tok)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), accountKey{}, acct)))
	})
}

func bearerToken(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// accountOf returns the authenticated account of a request.
func accountOf(ctx context.Context) *store.Account {
	a, _ := ctx.Value(accountKey{}).(*store.Account)
	return a
}
