package scim

import (
	"context"
	"crypto/sha256"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/transport"
)

type accountKey struct{}

// authenticate requires "Authorization: Bearer <token>" and puts the
// token's account id into the request context. Every handler below works
// within that account only. The token is looked up on every request (a
// revoked one stops working at once); the account itself is read by the
// directory operation that needs it, once. A client address that keeps
// failing is held back first (authlimit.go).
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if accountID(r.Context()) != "" {
			next.ServeHTTP(w, r) // served in process (InProcessClient)
			return
		}
		token, ok := bearerToken(r.Header.Get("Authorization"))
		var sum [sha256.Size]byte
		client, now := transport.ClientIP(r), time.Now()
		if s.authLimit != nil {
			sum = sha256.Sum256([]byte(token))
			if d := s.authLimit.wait(client, sum, now); d > 0 {
				secs := max(1, int(math.Ceil(d.Seconds())))
				s.writeError(w, r, failure.TooManyRequestsf(time.Duration(secs)*time.Second,
					"too many failed authentications from this address; retry after %d %s", secs, plural(secs, "second")))
				return
			}
		}
		var tok *store.Token
		var err error = failure.Unauthorizedf("send the SCIM token as \"Authorization: Bearer <token>\"")
		if ok {
			tok, err = s.store.Authenticate(r.Context(), token)
		}
		if err != nil {
			if s.authLimit != nil && failure.Is(err, failure.Unauthorized) {
				s.authLimit.failed(client, sum, now)
			}
			s.writeError(w, r, err)
			return
		}
		if s.authLimit != nil {
			s.authLimit.succeeded(sum, now)
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
