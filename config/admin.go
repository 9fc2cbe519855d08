package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// AdminConsole reports whether the admin console's provider is configured
// (see validateOIDC).
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
