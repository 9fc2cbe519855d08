package config

import (
	"fmt"
	"io"

	"go.yaml.in/yaml/v3"
)

// Secret is whether the setting's value is a secret: it never shows in
// help output or "config print" (a URL keeps all but its credentials).
func (s Setting) Secret() bool { return s.secret }

// Print writes the effective configuration as YAML that a config file
// could hold, every setting with a comment saying where its value came
// from, secrets redacted. Validate must have run (for the file's values).
func (c *Config) Print(w io.Writer) error {
	root := &yaml.Node{Kind: yaml.MappingNode}
	for _, s := range c.Settings() {
		key := &yaml.Node{Kind: yaml.ScalarNode, Value: s.Flag}
		val := &yaml.Node{Kind: yaml.ScalarNode, Value: RedactSetting(s, *s.target)}
		if val.Value == "" {
			val.Style = yaml.DoubleQuotedStyle // "" rather than a bare null
		}
		switch c.Source(s.Flag) {
		case SourceFlag:
			val.LineComment = "flag --" + s.Flag
		case SourceEnv:
			val.LineComment = "environment " + s.Env
		case SourceFile:
			val.LineComment = "file " + c.ConfigFile
		default:
			val.LineComment = "default"
		}
		if s.secret && *s.target != "" {
			val.LineComment += " (secret, redacted)"
		}
		root.Content = append(root.Content, key, val)
	}
	fmt.Fprintln(w, "# Effective configuration (precedence: flag > environment > config file > default).")
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return err
	}
	return enc.Close()
}
