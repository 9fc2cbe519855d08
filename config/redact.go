package config

import (
	"strings"
)

// Redacted stands in for a secret.
const Redacted = "REDACTED"

// Redact returns a value fit to show: in a URL (anything with "://") the
// password of its user info and the values of query parameters that carry
// credentials are replaced; any other value is returned as it is. Secret
// settings that are no URL are replaced whole by RedactSetting.
func Redact(v string) string {
	scheme, rest, ok := strings.Cut(v, "://")
	if !ok {
		return v
	}
	at := userinfoEnd(rest)
	if at < 0 {
		return scheme + "://" + redactQuery(rest)
	}
	userinfo, host := rest[:at], rest[at:]
	if user, _, hasPassword := strings.Cut(userinfo, ":"); hasPassword {
		userinfo = user + ":" + Redacted
	}
	return scheme + "://" + userinfo + redactQuery(host)
}

// userinfoEnd is the index of the @ that ends the user info of a URL
// after its "scheme://", or -1. It is the last @ before the query: a
// MongoDB URI may list several hosts ("u:p@h1,h2/"), and a password
// written without escaping may hold a / or #. A ? in such a password is
// caught too, as long as no = comes before the @ (which would make it a
// query).
func userinfoEnd(rest string) int {
	query := strings.Index(rest, "?")
	if query < 0 {
		query = len(rest)
	}
	at := strings.LastIndex(rest[:query], "@")
	if first := strings.Index(rest, "@"); at < 0 && first >= 0 && !strings.Contains(rest[:first], "=") {
		at = first
	}
	return at
}

// redactQuery replaces the values of credential-bearing parameters in the
// query of a URL's path-query-fragment tail.
func redactQuery(tail string) string {
	path, query, ok := strings.Cut(tail, "?")
	if !ok {
		return tail
	}
	query, fragment, hasFragment := strings.Cut(query, "#")
	params := strings.Split(query, "&")
	for i, p := range params {
		k, _, hasValue := strings.Cut(p, "=")
		if hasValue && credentialParam(k) {
			params[i] = k + "=" + Redacted
		}
	}
	out := path + "?" + strings.Join(params, "&")
	if hasFragment {
		out += "#" + fragment
	}
	return out
}

// credentialParam is whether a query parameter may carry a credential
// (MongoDB's authMechanismProperties holds AWS session tokens, for one).
func credentialParam(key string) bool {
	k := strings.ToLower(key)
	for _, w := range []string{"password", "secret", "token", "authmechanismproperties", "key", "sig", "credential"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// RedactSetting is how a setting's value may be shown: a secret that is a
// URL loses its credentials, any other secret is replaced whole.
func RedactSetting(s Setting, v string) string {
	if v == "" {
		return ""
	}
	if s.secret && !s.isURL() {
		return Redacted // whole, whatever it looks like ("://" included)
	}
	return Redact(v)
}

// isURL reports whether the setting's value is a URL (SCIM_SMTP_URL,
// SCIM_MONGODB_URI): a secret one shows without its password.
func (s Setting) isURL() bool {
	return strings.HasSuffix(s.Env, "_URL") || strings.HasSuffix(s.Env, "_URI")
}

// scrub removes a secret value, and the password in it, from a message
// (a parser's error may quote what it parsed).
func scrub(msg, secret string) string {
	if secret == "" {
		return msg
	}
	msg = strings.ReplaceAll(msg, secret, Redact(secret))
	if _, rest, ok := strings.Cut(secret, "://"); ok {
		if at := userinfoEnd(rest); at >= 0 {
			if _, pw, ok := strings.Cut(rest[:at], ":"); ok && pw != "" {
				msg = strings.ReplaceAll(msg, pw, Redacted)
			}
		}
	}
	return msg
}
