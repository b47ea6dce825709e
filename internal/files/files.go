// Package files lists the files of a folder by a name pattern, the folder
// taken literally: filepath.Glob reads pattern characters ([, ], *, ?) in
// the folder's path too, so that results/run[1] or a cache under a user's
// "[work]" folder matches nothing.
package files

import (
	"fmt"
	"os"
	"path/filepath"
)

// Glob is the paths of the entries of dir whose names match pattern
// (filepath.Match), in name order; none where dir cannot be read, as
// filepath.Glob ignores I/O errors. A malformed pattern is a programming
// error and panics.
func Glob(dir, pattern string) []string {
	if _, err := filepath.Match(pattern, ""); err != nil {
		panic(fmt.Sprintf("files: Glob(%q, %q): %v", dir, pattern, err))
	}
	ents, _ := os.ReadDir(dir) // sorted by name
	var out []string
	for _, e := range ents {
		if ok, _ := filepath.Match(pattern, e.Name()); ok {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}
