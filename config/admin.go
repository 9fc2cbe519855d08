package config

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// validateAdmin checks the admin console's settings: none of the provider
// settings, or all three; absolute URLs.
func (c *Config) validateAdmin() error {
	c.OIDCIssuer = strings.TrimSpace(c.OIDCIssuer)
	c.OIDCRedirectURL = strings.TrimSpace(c.OIDCRedirectURL)
	set := 0
	for _, v := range []string{c.OIDCIssuer, c.OIDCClientID, c.OIDCClientSecret} {
		if v != "" {
			set++
		}
	}
	if set != 0 && set != 3 {
		return fmt.Errorf("the admin console needs SCIM_OIDC_ISSUER, SCIM_OIDC_CLIENT_ID and SCIM_OIDC_CLIENT_SECRET together (or none of them)")
	}
	for name, v := range map[string]string{"SCIM_OIDC_ISSUER": c.OIDCIssuer, "SCIM_OIDC_REDIRECT_URL": c.OIDCRedirectURL} {
		if v == "" {
			continue
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%s must be an absolute http(s) URL, got %q", name, v)
		}
	}
	if _, err := c.Retention(); err != nil {
		return err
	}
	return nil
}

// AdminConsole reports whether the admin console's provider is configured.
func (c *Config) AdminConsole() bool { return c.OIDCIssuer != "" }

// RedirectURL is where the provider sends administrators back.
func (c *Config) RedirectURL() string {
	if c.OIDCRedirectURL != "" {
		return c.OIDCRedirectURL
	}
	return c.PublicBaseURL() + "/admin/callback"
}

// Retention is how long the activity log is kept.
func (c *Config) Retention() (time.Duration, error) {
	d, err := parseDuration(c.ActivityRetention)
	if err != nil {
		return 0, fmt.Errorf("SCIM_ACTIVITY_RETENTION must be a positive duration such as 90d or 720h, got %q", c.ActivityRetention)
	}
	return d, nil
}

// parseDuration reads a positive duration, in days with a "d" suffix
// (90d) or as Go writes durations (720h, 30m).
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	var err error
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var days int
		days, err = strconv.Atoi(n)
		d = time.Duration(days) * 24 * time.Hour
	} else {
		d, err = time.ParseDuration(s)
	}
	if err == nil && d <= 0 {
		err = fmt.Errorf("not positive")
	}
	return d, err
}
