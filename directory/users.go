package directory

import (
	"golang.org/x/crypto/bcrypt"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/store"
)

// Password rules: long enough to mean something, short enough for bcrypt,
// which reads at most 72 bytes.
const (
	minPasswordLength = 8
	maxPasswordBytes  = 72
)

// takePassword moves a password out of the attributes into the resource's
// hash; a body without one keeps the hash the resource has.
func takePassword(r *store.Resource, attrs map[string]any) error {
	v, ok := attrs["password"]
	if !ok {
		return nil
	}
	delete(attrs, "password")
	pw, _ := v.(string)
	h, err := hashPassword(pw)
	if err != nil {
		return err
	}
	r.PasswordHash = h
	return nil
}

func hashPassword(pw string) (string, error) {
	if len([]rune(pw)) < minPasswordLength {
		return "", failure.InvalidValue("password must be at least %d characters long", minPasswordLength)
	}
	if len(pw) > maxPasswordBytes {
		return "", failure.InvalidValue("password must be at most %d bytes long", maxPasswordBytes)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if err != nil {
		return "", err
	}
	return string(h), nil
}

// CheckPassword reports whether pw is the user's password.
func CheckPassword(r *store.Resource, pw string) bool {
	return r.PasswordHash != "" && bcrypt.CompareHashAndPassword([]byte(r.PasswordHash), []byte(pw)) == nil
}
