package sockdir

import (
	"io/fs"
	"syscall"
	"testing"
	"time"
)

// fakeDir is what a fake Lstat returns: a file of type typ owned by uid.
type fakeDir struct {
	mode fs.FileMode
	uid  uint32
}

func (f fakeDir) Name() string       { return "x" }
func (f fakeDir) Size() int64        { return 0 }
func (f fakeDir) Mode() fs.FileMode  { return f.mode }
func (f fakeDir) ModTime() time.Time { return time.Time{} }
func (f fakeDir) IsDir() bool        { return f.mode.IsDir() }
func (f fakeDir) Sys() any           { return &syscall.Stat_t{Uid: f.uid} }

// TestDefaultSocketDir: the default is a directory no other local user can
// create first, chosen from the environment, the effective uid and what
// exists, all injected.
func TestDefaultSocketDir(t *testing.T) {
	const xdg = "/run/user/1000"
	tests := []struct {
		name  string
		env   map[string]string
		euid  int
		files map[string]fakeDir // what Lstat finds; the rest does not exist
		want  string
	}{
		{"user with XDG_RUNTIME_DIR", map[string]string{"XDG_RUNTIME_DIR": xdg}, 1000,
			map[string]fakeDir{xdg: {fs.ModeDir | 0o700, 1000}}, "/run/user/1000/spacenet"},
		{"root with its own XDG_RUNTIME_DIR", map[string]string{"XDG_RUNTIME_DIR": "/run/user/0"}, 0,
			map[string]fakeDir{"/run/user/0": {fs.ModeDir | 0o700, 0}}, "/run/user/0/spacenet"},
		{"root with a user's XDG_RUNTIME_DIR (sudo -E)", map[string]string{"XDG_RUNTIME_DIR": xdg}, 0,
			map[string]fakeDir{xdg: {fs.ModeDir | 0o700, 1000}}, "/run/spacenet"},
		{"root", nil, 0, nil, "/run/spacenet"},
		{"root, old default present", nil, 0,
			map[string]fakeDir{"/tmp/space-net": {fs.ModeDir | 0o700, 0}}, "/run/spacenet"},
		{"relative XDG_RUNTIME_DIR ignored", map[string]string{"XDG_RUNTIME_DIR": "run"}, 1000,
			map[string]fakeDir{"run": {fs.ModeDir | 0o700, 1000}}, "/tmp/spacenet-1000"},
		{"XDG_RUNTIME_DIR missing", map[string]string{"XDG_RUNTIME_DIR": xdg}, 1000, nil, "/tmp/spacenet-1000"},
		{"XDG_RUNTIME_DIR writable by others", map[string]string{"XDG_RUNTIME_DIR": xdg}, 1000,
			map[string]fakeDir{xdg: {fs.ModeDir | 0o777, 1000}}, "/tmp/spacenet-1000"},
		{"XDG_RUNTIME_DIR a symlink", map[string]string{"XDG_RUNTIME_DIR": xdg}, 1000,
			map[string]fakeDir{xdg: {fs.ModeSymlink | 0o777, 1000}}, "/tmp/spacenet-1000"},
		{"user, nothing there", nil, 1000, nil, "/tmp/spacenet-1000"},
		{"user, old default ours", nil, 1000,
			map[string]fakeDir{"/tmp/space-net": {fs.ModeDir | 0o700, 1000}}, "/tmp/space-net"},
		{"user, old default ours but 0777", nil, 1000,
			map[string]fakeDir{"/tmp/space-net": {fs.ModeDir | 0o777, 1000}}, "/tmp/spacenet-1000"},
		{"user, old default another user's", nil, 1000,
			map[string]fakeDir{"/tmp/space-net": {fs.ModeDir | 0o700, 1001}}, "/tmp/spacenet-1000"},
		{"user, old default a symlink", nil, 1000,
			map[string]fakeDir{"/tmp/space-net": {fs.ModeSymlink | 0o777, 1000}}, "/tmp/spacenet-1000"},
		{"user, old default a file", nil, 1000,
			map[string]fakeDir{"/tmp/space-net": {0o600, 1000}}, "/tmp/spacenet-1000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := host{
				getenv: func(k string) string { return tc.env[k] },
				euid:   tc.euid,
				lstat: func(p string) (fs.FileInfo, error) {
					if f, ok := tc.files[p]; ok {
						return f, nil
					}
					return nil, &fs.PathError{Op: "lstat", Path: p, Err: fs.ErrNotExist}
				},
			}
			if got := defaultDir(h); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}
