// Package config holds the grid files shipped in the binary: default.yaml,
// which dllmbench run measures when no --config is given (the built-in demo
// pair, in minutes on a CPU), experiments_mini.yaml, the smoke run on the
// real 8B models, and experiments.yaml, the full study. bench.ParseGrid
// reads them.
package config

import (
	"embed"
	"io/fs"
	"slices"
	"strings"
)

//go:embed *.yaml
var files embed.FS

// DefaultName is the file Default returns.
const DefaultName = "default.yaml"

// Default returns the grid dllmbench run uses without --config.
func Default() []byte {
	data, ok := File(DefaultName)
	if !ok {
		panic("config: " + DefaultName + " is not embedded")
	}
	return data
}

// File returns an embedded grid file by name, with or without its .yaml
// extension ("experiments_mini" or "experiments_mini.yaml").
func File(name string) ([]byte, bool) {
	if !strings.HasSuffix(name, ".yaml") {
		name += ".yaml"
	}
	if !fs.ValidPath(name) || strings.Contains(name, "/") {
		return nil, false
	}
	data, err := files.ReadFile(name)
	if err != nil {
		return nil, false
	}
	return data, true
}

// Names lists the embedded grid files, sorted.
func Names() []string {
	entries, err := files.ReadDir(".")
	if err != nil {
		panic("config: " + err.Error())
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}
