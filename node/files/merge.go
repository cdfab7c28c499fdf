package files

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// side is one input of a merge: a directory and the device label of the
// head it came from, for the names of conflict copies.
type side struct {
	dir    *Directory
	device string
}

// mergeTips merges the directory trees of every live tip into one
// in-memory tree, three-way against their newest common ancestor (an empty
// tree when none is known, which makes it a union), folding the tips in
// one by one. The result is dirty from the root down to every merged
// directory, so the next commit stores it under a merge head.
func (c *Client) mergeTips(ctx context.Context, v *headView) (*dnode, error) {
	base := &Directory{Version: dirVersion}
	if v.base != nil {
		d, err := c.loadDir(ctx, v.base.Root)
		if err != nil {
			return nil, fmt.Errorf("files: merge base: %w", err)
		}
		base = d
	}
	first, err := c.loadDir(ctx, v.live[0].Root)
	if err != nil {
		return nil, fmt.Errorf("files: merge: %w", err)
	}
	acc := &dnode{dir: first}
	accDevice := v.live[0].Device
	for _, tip := range v.live[1:] {
		d, err := c.loadDir(ctx, tip.Root)
		if err != nil {
			return nil, fmt.Errorf("files: merge: %w", err)
		}
		if acc, err = c.mergeDirs(ctx, base, acc, side{d, tip.Device}, accDevice); err != nil {
			return nil, err
		}
	}
	acc.dirty = true
	return acc, nil
}

func sameEntry(a, b *Entry) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Kind == b.Kind && bytes.Equal(a.Ref, b.Ref)
}

func entryOf(d *Directory, name string) *Entry {
	if d == nil {
		return nil
	}
	if i := d.Find(name); i >= 0 {
		e := d.Entries[i]
		return &e
	}
	return nil
}

// mergeDirs merges directory b into a (an in-memory node, possibly with
// merged children already), three-way against base (nil: empty):
//   - a change on one side only (add, replace, delete) is taken;
//   - the same change on both sides is taken once;
//   - directories changed on both sides are merged recursively;
//   - a delete on one side and a change on the other keeps the change (for
//     a directory: what the other side added or changed in it, the rest
//     stays deleted, as its contents are already gone);
//   - two different files (or a file and a directory) under one name are
//     both kept: the newer file (or the directory) keeps the name, the
//     other is renamed "name (conflict YYYY-MM-DD from device).ext".
func (c *Client) mergeDirs(ctx context.Context, base *Directory, a *dnode, b side, aDevice string) (*dnode, error) {
	out := &dnode{dir: &Directory{Version: dirVersion}, dirty: true}
	names := map[string]bool{}
	for _, d := range []*Directory{base, a.dir, b.dir} {
		if d != nil {
			for _, e := range d.Entries {
				names[e.Name] = true
			}
		}
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	// Sorted so conflict copies get the same names on every machine.
	slices.Sort(sorted)
	var losers []struct {
		e      Entry
		device string
	}
	child := func(name string, n *dnode) {
		if out.children == nil {
			out.children = map[string]*dnode{}
		}
		out.children[name] = n
	}
	for _, name := range sorted {
		eo, ea, eb := entryOf(base, name), entryOf(a.dir, name), entryOf(b.dir, name)
		an := a.children[name] // a merged subdirectory from an earlier fold
		aChanged := an != nil || !sameEntry(ea, eo)
		switch {
		case !aChanged && sameEntry(eb, eo), an == nil && sameEntry(ea, eb):
			// Unchanged, or the same change on both sides.
			if ea != nil {
				out.dir.Set(*ea)
				if an != nil {
					child(name, an)
				}
			}
			continue
		case !aChanged:
			if eb != nil {
				out.dir.Set(*eb)
			}
			continue
		case sameEntry(eb, eo):
			if ea != nil {
				out.dir.Set(*ea)
				if an != nil {
					child(name, an)
				}
			}
			continue
		}
		// Both sides changed the name, differently.
		aDir, bDir := ea != nil && ea.Kind == KindDir, eb != nil && eb.Kind == KindDir
		switch {
		case (aDir || ea == nil) && (bDir || eb == nil) && (ea != nil || eb != nil):
			// Directories on both sides, or a directory deleted on one side
			// and changed on the other: merge inside.
			var subBase *Directory
			if eo != nil && eo.Kind == KindDir {
				d, err := c.loadDir(ctx, eo.Ref)
				if err != nil {
					return nil, err
				}
				subBase = d
			}
			sa := an
			if sa == nil {
				sa = &dnode{dir: &Directory{Version: dirVersion}}
				if ea != nil {
					d, err := c.loadDir(ctx, ea.Ref)
					if err != nil {
						return nil, err
					}
					sa.dir = d
				}
			}
			sb := &Directory{Version: dirVersion}
			if eb != nil {
				d, err := c.loadDir(ctx, eb.Ref)
				if err != nil {
					return nil, err
				}
				sb = d
			}
			m, err := c.mergeDirs(ctx, subBase, sa, side{sb, b.device}, aDevice)
			if err != nil {
				return nil, err
			}
			if len(m.dir.Entries) == 0 && (ea == nil || eb == nil) {
				continue // deleted on one side, nothing new on the other
			}
			ref := eb
			if ref == nil {
				ref = ea
			}
			out.dir.Set(Entry{Name: name, Kind: KindDir, Size: int64(len(m.dir.Entries)), MTime: ref.MTime, Ref: ref.Ref})
			child(name, m)
		case ea == nil:
			out.dir.Set(*eb) // deleted there, changed here: keep the change
		case eb == nil:
			out.dir.Set(*ea)
			if an != nil {
				child(name, an)
			}
		default:
			// Two different entries under one name: keep both.
			keepA := aDir || !bDir && (ea.MTime > eb.MTime || ea.MTime == eb.MTime && bytes.Compare(ea.Ref, eb.Ref) < 0)
			if keepA {
				out.dir.Set(*ea)
				if an != nil {
					child(name, an)
				}
				losers = append(losers, struct {
					e      Entry
					device string
				}{*eb, b.device})
			} else {
				out.dir.Set(*eb)
				losers = append(losers, struct {
					e      Entry
					device string
				}{*ea, aDevice})
				if an != nil && ea.Kind == KindDir {
					// Cannot happen (a directory always keeps the name),
					// but never drop a merged subtree.
					return nil, fmt.Errorf("%w: merge of %q", ErrConflict, name)
				}
			}
		}
	}
	for _, l := range losers {
		e := l.e
		e.Name = conflictName(e.Name, e.MTime, l.device, func(n string) bool { return out.dir.Find(n) >= 0 || names[n] })
		if e.Name == "" {
			return nil, fmt.Errorf("%w: no free name for a conflict copy of %q", ErrConflict, l.e.Name)
		}
		out.dir.Set(e)
	}
	return out, nil
}

// conflictName is the name a conflict copy of name gets:
// "report (conflict 2025-03-01 from laptop).txt", with " 2", " 3", ...
// added while taken says the name is used. It returns "" when no name is
// free.
func conflictName(name string, mtime int64, device string, taken func(string) bool) string {
	if device == "" {
		device = "another device"
	}
	ext := path.Ext(name)
	if ext == name || len(ext) > 16 {
		ext = ""
	}
	stem := strings.TrimSuffix(name, ext)
	date := time.UnixMilli(mtime).UTC().Format("2006-01-02")
	for i := 1; i < 1000; i++ {
		tag := fmt.Sprintf(" (conflict %s from %s)", date, device)
		if i > 1 {
			tag = fmt.Sprintf(" (conflict %s from %s %d)", date, device, i)
		}
		s := stem
		for len(s)+len(tag)+len(ext) > MaxNameLen && s != "" {
			_, size := utf8.DecodeLastRuneInString(s)
			s = s[:len(s)-size]
		}
		n := s + tag + ext
		if ValidName(n) && !taken(n) {
			return n
		}
	}
	return ""
}

// deviceLabel makes a device name safe inside an entry name and a head.
func deviceLabel(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '/' || r == 0 || r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return '-'
		}
		return r
	}, strings.TrimSpace(s))
	for len(s) > 32 {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}
