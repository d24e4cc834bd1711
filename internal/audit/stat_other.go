//go:build !(linux && (amd64 || arm64))

package audit

import "os"

// pathIsFile reports whether the trail's path still names its open file.
func (t *Trail) pathIsFile() (bool, error) {
	fi, err := os.Stat(t.opts.Path)
	if err != nil {
		return false, err
	}
	return os.SameFile(fi, t.id), nil
}
