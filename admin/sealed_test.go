package admin_test

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/store"
)

// Someone who read the database (a backup, a read-only MongoDB user) knows
// the server-wide secret the console's sealed cookies were keyed with. The
// account picker's cookie says who signed in at the provider; sealed with
// that secret alone, it could be forged to open a session as any
// administrator, bound or not, without the provider. It must not be.
func TestForgedAccountChoiceIsRefused(t *testing.T) {
	e := newEnv(t, true)
	// The administrator is bound to their identity, as after a sign-in.
	subject := "https://idp.example.com ada-sub"
	if err := e.st.Bind(bg, &store.Binding{Account: e.account.ID, User: e.admin.ID, Subject: subject, Email: "ada@acme.test"}); err != nil {
		t.Fatal(err)
	}
	// What the database and the source code give: the choice cookie as
	// the console seals it, under the secret stored in the database.
	choice, _ := json.Marshal(map[string]any{
		"s": subject, "e": "ada@acme.test", "c": "csrf-forged", "t": time.Now().UTC(),
		"o": []map[string]any{{"a": e.account.ID, "u": e.admin.ID, "b": true}},
	})
	key := sha256.Sum256(append([]byte("timecamp-scim admin login cookie\x00"), "test secret"...))
	block, _ := aes.NewCipher(key[:])
	gcm, _ := cipher.NewGCM(block)
	nonce := make([]byte, gcm.NonceSize())
	_, _ = rand.Read(nonce)
	forged := base64.RawURLEncoding.EncodeToString(gcm.Seal(nonce, nonce, choice, []byte("admin-tcscim_choose")))

	jar, _ := cookiejar.New(nil)
	base, _ := url.Parse(e.srv.URL)
	jar.SetCookies(base, []*http.Cookie{{Name: "tcscim_choose", Value: forged, Path: "/"}})
	c := &http.Client{Jar: jar, CheckRedirect: noRedirects}
	st, body, h := do(t, c, "POST", e.srv.URL+"/admin/choose", url.Values{"csrf": {"csrf-forged"}, "account": {e.account.ID}})
	if st != http.StatusBadRequest {
		t.Fatalf("a forged account choice: %d, %v\n%s", st, h.Values("Set-Cookie"), body)
	}
	for _, ck := range h.Values("Set-Cookie") {
		if strings.HasPrefix(ck, "tcscim_admin=") && !strings.HasPrefix(ck, "tcscim_admin=;") {
			t.Fatalf("a forged account choice opened a session: %s", ck)
		}
	}
}
