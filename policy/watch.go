package policy

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// watch polls the policy and data files and activates a new revision when
// they change. Polling rather than file events: it sees every kind of update
// (editors that write in place or rename over the file, Kubernetes ConfigMaps
// swapping a symlink) with one stat per file per interval. A change that does
// not load or compile is reported once and the last good revision keeps
// serving; the next change is tried again.
func (e *Engine) watch(ctx context.Context, every time.Duration) {
	last := e.loaded
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := fingerprint(e.opts.Policies, e.opts.Data)
		if now == last {
			continue
		}
		last = now
		src, err := loadFiles(e.opts.Policies, e.opts.Data)
		if err == nil {
			err = e.activate(ctx, src)
		}
		if err != nil {
			e.reportError(fmt.Errorf("policy change not activated, the last good revision keeps serving: %w", err))
		}
	}
}

// fingerprint names every file under paths with its size and modification
// time; any change to the set changes the string.
func fingerprint(policies, data []string) string {
	var entries []string
	add := func(path string) {
		info, err := os.Stat(path) // follows symlinks
		if err != nil {
			entries = append(entries, path+" !"+err.Error())
			return
		}
		if !info.IsDir() {
			entries = append(entries, fmt.Sprintf("%s %d %d", path, info.Size(), info.ModTime().UnixNano()))
			return
		}
		_ = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			if i, err := os.Stat(p); err == nil {
				entries = append(entries, fmt.Sprintf("%s %d %d", p, i.Size(), i.ModTime().UnixNano()))
			}
			return nil
		})
	}
	for _, p := range policies {
		add(p)
	}
	for _, p := range data {
		add(p)
	}
	slices.Sort(entries)
	return strings.Join(entries, "\n")
}
