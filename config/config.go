// Package config reads the server's settings from flags and environment
// variables into one validated Config. A flag wins over its environment
// variable, which wins over the default.
package config

import (
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
)

// Config holds every setting of the server and the management commands.
type Config struct {
	Addr           string // listen address
	BaseURL        string // public URL used in meta.location; empty: from each request
	MongoURI       string // MongoDB to use; empty: the embedded database
	Database       string // database name
	DataDir        string // the embedded database's folder
	BootstrapToken string // ensures account "default" accepts this token
	LogLevel       string // debug, info, warn, error
	LogFormat      string // text or json
}

// Setting describes one setting, for flags and the README's table.
type Setting struct {
	Flag, Env, Default, Usage string
	target                    *string
}

// Settings lists the settings bound to c.
func (c *Config) Settings() []Setting {
	return []Setting{
		{"addr", "SCIM_ADDR", ":8080", "address to listen on", &c.Addr},
		{"base-url", "SCIM_BASE_URL", "", "public base URL of the server, e.g. https://scim.example.com (default: taken from each request)", &c.BaseURL},
		{"mongodb-uri", "SCIM_MONGODB_URI", "", "MongoDB connection string (default: the embedded database)", &c.MongoURI},
		{"mongodb-database", "SCIM_MONGODB_DATABASE", "timecamp_scim", "database name", &c.Database},
		{"data-dir", "SCIM_DATA_DIR", "./data", "folder of the embedded database", &c.DataDir},
		{"bootstrap-token", "SCIM_BOOTSTRAP_TOKEN", "", "make account \"default\" accept this SCIM token (prefer the environment variable: flags show in process lists)", &c.BootstrapToken},
		{"log-level", "SCIM_LOG_LEVEL", "info", "log level: debug, info, warn or error", &c.LogLevel},
		{"log-format", "SCIM_LOG_FORMAT", "text", "log format: text or json", &c.LogFormat},
	}
}

// Register adds the settings' flags to fs, with defaults taken from the
// environment (lookup is os.LookupEnv outside tests).
func Register(fs *flag.FlagSet, lookup func(string) (string, bool)) *Config {
	c := &Config{}
	for _, s := range c.Settings() {
		def := s.Default
		if v, ok := lookup(s.Env); ok {
			def = v
		}
		fs.StringVar(s.target, s.Flag, def, s.Usage+" ($"+s.Env+")")
	}
	return c
}

// FromEnvironment is Register with the process environment.
func FromEnvironment(fs *flag.FlagSet) *Config { return Register(fs, os.LookupEnv) }

// Validate checks the settings and says what to fix.
func (c *Config) Validate() error {
	c.BaseURL = strings.TrimRight(strings.TrimSpace(c.BaseURL), "/")
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("SCIM_BASE_URL must be an absolute http(s) URL such as https://scim.example.com, got %q", c.BaseURL)
		}
	}
	if strings.TrimSpace(c.Addr) == "" {
		return fmt.Errorf("SCIM_ADDR must not be empty (e.g. :8080)")
	}
	if c.Database == "" || strings.ContainsAny(c.Database, "/\\. \"$") {
		return fmt.Errorf("SCIM_MONGODB_DATABASE must be a MongoDB database name without /\\. \"$, got %q", c.Database)
	}
	if c.MongoURI == "" && c.DataDir == "" {
		return fmt.Errorf("SCIM_DATA_DIR must not be empty when no SCIM_MONGODB_URI is set")
	}
	if _, err := c.Level(); err != nil {
		return err
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("SCIM_LOG_FORMAT must be text or json, got %q", c.LogFormat)
	}
	return nil
}

// Level is the configured log level.
func (c *Config) Level() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return l, fmt.Errorf("SCIM_LOG_LEVEL must be debug, info, warn or error, got %q", c.LogLevel)
	}
	return l, nil
}

// Logger returns a logger writing to stderr as configured.
func (c *Config) Logger() *slog.Logger {
	l, _ := c.Level()
	opts := &slog.HandlerOptions{Level: l}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
