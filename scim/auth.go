package scim

import (
	"context"
	"net/http"
	"strings"

	"github.com/timecamp/timecamp-scim/failure"
)

type accountKey struct{}

// authenticate requires "Authorization: Bearer <token>" and puts the
// token's account id into the request context. Every handler below works
// within that account only. The store looks the token up (MongoDB
// remembers it for a moment: see store.Tokens.Authenticate); the account
// itself is read by the directory operation that needs it, once.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if accountID(r.Context()) != "" {
			next.ServeHTTP(w, r) // served in process (InProcessClient)
			return
		}
		token, ok := bearerToken(r.Header.Get("Authorization"))
		if !ok {
			s.writeError(w, r, failure.Unauthorizedf("send the SCIM token as \"Authorization: Bearer <token>\""))
			return
		}
		tok, err := s.store.Authenticate(r.Context(), token)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if info, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok {
			info.account, info.token = tok.Account, tok
		}
		s.noteTokenUse(r.Context(), tok)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), accountKey{}, tok.Account)))
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

// accountID returns the id of the authenticated account of a request
// ("" before authentication).
func accountID(ctx context.Context) string {
	a, _ := ctx.Value(accountKey{}).(string)
	return a
}
