package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Where a setting's value came from, as "config print" shows it.
const (
	SourceDefault = "default"
	SourceFlag    = "flag"
	SourceEnv     = "environment"
	SourceFile    = "file"
)

// load settles each setting by precedence — flag, environment, config
// file, default — and records where its value came from. Register has
// already put the environment's value in as the flag's default, so only
// the file is left to apply, to the settings that neither a flag nor the
// environment gave. Once is enough: later calls do nothing.
func (c *Config) load() error {
	if c.loaded || c.fs == nil {
		return nil
	}
	c.loaded = true
	given := map[string]bool{}
	c.fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	c.sources = map[string]string{}
	for _, s := range c.Settings() {
		switch _, inEnv := c.lookup(s.Env); {
		case given[s.Flag]:
			c.sources[s.Flag] = SourceFlag
		case inEnv:
			c.sources[s.Flag] = SourceEnv
		default:
			c.sources[s.Flag] = SourceDefault
		}
	}
	if c.ConfigFile == "" {
		return nil
	}
	values, err := readFile(c.ConfigFile, c.Settings())
	if err != nil {
		return err
	}
	for _, s := range c.Settings() {
		if v, ok := values[s.Flag]; ok && c.sources[s.Flag] == SourceDefault {
			*s.target = v
			c.sources[s.Flag] = SourceFile
		}
	}
	return nil
}

// Source says where a setting (named by its flag) got its value:
// SourceFlag, SourceEnv, SourceFile or SourceDefault. Known after Validate.
func (c *Config) Source(flagName string) string {
	if src, ok := c.sources[flagName]; ok {
		return src
	}
	return SourceDefault
}

// readFile reads a YAML mapping of flag names to values. A list (handy for
// trusted-proxies) is joined with commas. Unknown names are refused: a
// misspelt setting would otherwise silently keep its default.
func readFile(path string, settings []Setting) (map[string]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("SCIM_CONFIG: cannot read the config file: %w", err)
	}
	fail := func(line int, format string, args ...any) error {
		where := path
		if line > 0 {
			where = fmt.Sprintf("%s:%d", path, line)
		}
		return fmt.Errorf("config file %s: %s", where, fmt.Sprintf(format, args...))
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return map[string]string{}, nil // an empty file sets nothing
		}
		return nil, fail(0, "not valid YAML: %v", err)
	}
	if len(doc.Content) == 0 {
		return map[string]string{}, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fail(root.Line, "must be a mapping of settings, such as \"addr: :8443\"")
	}
	known := map[string]bool{}
	byEnv := map[string]string{}
	var names []string
	for _, s := range settings {
		known[s.Flag] = true
		byEnv[s.Env] = s.Flag
		if s.Flag != "config" {
			names = append(names, s.Flag)
		}
	}
	values := map[string]string{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		name := k.Value
		switch {
		case name == "config":
			return nil, fail(k.Line, "a config file cannot name another config file")
		case byEnv[name] != "":
			return nil, fail(k.Line, "unknown setting %q: the file uses flag names (%s)", name, byEnv[name])
		case !known[name]:
			return nil, fail(k.Line, "unknown setting %q; the settings are %s", name, strings.Join(names, ", "))
		}
		if _, dup := values[name]; dup {
			return nil, fail(k.Line, "%s is set twice", name)
		}
		switch v.Kind {
		case yaml.ScalarNode:
			if v.Tag == "!!null" {
				values[name] = ""
			} else {
				values[name] = v.Value
			}
		case yaml.SequenceNode:
			var items []string
			for _, el := range v.Content {
				if el.Kind != yaml.ScalarNode {
					return nil, fail(el.Line, "%s: a list may hold plain values only", name)
				}
				items = append(items, el.Value)
			}
			values[name] = strings.Join(items, ",")
		default:
			return nil, fail(v.Line, "%s must be a value (or a list of values), not a mapping", name)
		}
	}
	return values, nil
}
