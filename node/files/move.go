package files

import (
	"context"
	"fmt"
	"slices"
)

// Move renames or moves the file or directory at from to the path to
// (creating to's parent directories) in one tree update: the entry keeps
// its contents (its Ref), nothing is copied or deleted from holders.
// to must not exist; a directory cannot move into itself.
func (c *Client) Move(ctx context.Context, from, to string) (Entry, error) {
	src, err := SplitPath(from)
	if err != nil {
		return Entry{}, err
	}
	dst, err := SplitPath(to)
	if err != nil {
		return Entry{}, err
	}
	if len(src) == 0 || len(dst) == 0 {
		return Entry{}, fmt.Errorf("files mv: %w: cannot move the root or onto it", ErrBadPath)
	}
	if len(dst) >= len(src) && slices.Equal(dst[:len(src)], src) {
		return Entry{}, fmt.Errorf("files mv %s: %w: into itself", from, ErrBadPath)
	}
	var moved Entry
	err = c.update(ctx, func(t *tree) error {
		sp, err := t.dir(src[:len(src)-1], false)
		if err != nil {
			return err
		}
		i := sp.dir.Find(src[len(src)-1])
		if i < 0 {
			return fmt.Errorf("%w: %s", ErrNotFound, from)
		}
		dp, err := t.dir(dst[:len(dst)-1], true)
		if err != nil {
			return err
		}
		name := dst[len(dst)-1]
		if dp.dir.Find(name) >= 0 {
			return fmt.Errorf("%w: %s", ErrExists, to)
		}
		i = sp.dir.Find(src[len(src)-1]) // dp may be sp: find again
		e := sp.dir.Entries[i]
		child := sp.children[e.Name] // a loaded subtree moves with its entry
		sp.dir.Remove(i)
		delete(sp.children, e.Name)
		e.Name = name
		dp.dir.Set(e)
		if child != nil {
			if dp.children == nil {
				dp.children = map[string]*dnode{}
			}
			dp.children[name] = child
		}
		t.touch(src[:len(src)-1])
		t.touch(dst[:len(dst)-1])
		moved = e
		return nil
	})
	if err != nil {
		return Entry{}, fmt.Errorf("files mv %s %s: %w", from, to, err)
	}
	return moved, nil
}
