package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/wire"
)

// clientPolicy is what clients check: the entry's own expiry and a sane
// issue time. How long an entry may live at most is the nodes' admission
// policy, which a client does not know; it only refuses absurd lifetimes.
var clientPolicy = Policy{MaxTTL: 24 * time.Hour}

// Lookup asks the registry node at target for nodes serving cellName and
// returns them best first. Every entry is verified here, with c's own
// network and clock: signature by the node it describes, field rules,
// freshness. The answering node is trusted for nothing but the choice and
// order of entries: one forged or altered entry, or one for another cell,
// fails the whole answer with cell.CodeBadAnswer (that node is lying);
// entries that merely expired in flight are dropped silently.
func Lookup(ctx context.Context, c *cell.Client, target cell.Target, cellName string) ([]Entry, error) {
	payload, err := wire.Marshal(lookupRequest{Cell: cellName, Limit: MaxLookupLimit})
	if err != nil {
		return nil, fmt.Errorf("registry lookup: %w", err)
	}
	ans, err := c.Call(ctx, target, DNA, KindLookup, payload)
	if err != nil {
		return nil, fmt.Errorf("registry lookup %q at %s: %w", cellName, target.Addr, err)
	}
	list, err := decodeList(ans, MaxLookupLimit)
	if err != nil {
		return nil, fmt.Errorf("registry lookup %q at %s: %w", cellName, target.Addr, err)
	}
	now := c.Now()
	out := make([]Entry, 0, len(list.Items))
	seen := map[nodeKey]bool{}
	for _, it := range list.Items {
		e, err := Verify(it.Entry, c.Network, now, clientPolicy)
		if errors.Is(err, ErrExpired) {
			continue
		}
		if err != nil {
			return nil, cell.Errorf(cell.CodeBadAnswer, "registry lookup at %s: entry refused: %v", target.Addr, err)
		}
		if !e.Serves(cellName) {
			return nil, cell.Errorf(cell.CodeBadAnswer, "registry lookup at %s: entry of %x does not serve %q", target.Addr, e.Node[:4], cellName)
		}
		if seen[e.Key()] {
			return nil, cell.Errorf(cell.CodeBadAnswer, "registry lookup at %s: node %x listed twice", target.Addr, e.Node[:4])
		}
		seen[e.Key()] = true
		e.RTT = rttOf(it)
		out = append(out, *e)
	}
	return out, nil
}

// dumpPage fetches one page of target's table, unverified: the caller
// verifies each entry.
func dumpPage(ctx context.Context, c *cell.Client, target cell.Target, after []byte, limit int) ([]item, []byte, error) {
	payload, err := wire.Marshal(dumpRequest{After: after, Limit: limit})
	if err != nil {
		return nil, nil, err
	}
	ans, err := c.Call(ctx, target, DNA, KindDump, payload)
	if err != nil {
		return nil, nil, fmt.Errorf("registry dump at %s: %w", target.Addr, err)
	}
	list, err := decodeList(ans, limit)
	if err != nil {
		return nil, nil, fmt.Errorf("registry dump at %s: %w", target.Addr, err)
	}
	if list.Next != nil && (len(list.Next) != len(target.Key) || bytes.Compare(list.Next, after) <= 0) {
		return nil, nil, cell.Errorf(cell.CodeBadAnswer, "registry dump at %s: cursor does not advance", target.Addr)
	}
	return list.Items, list.Next, nil
}

// Dump fetches target's whole table page by page and verifies every entry
// (as Lookup does); for tools and tests.
func Dump(ctx context.Context, c *cell.Client, target cell.Target) ([]Entry, error) {
	var out []Entry
	var after []byte
	for pages := 0; pages <= DefaultMaxEntries/MaxDumpLimit+1; pages++ {
		its, next, err := dumpPage(ctx, c, target, after, MaxDumpLimit)
		if err != nil {
			return nil, err
		}
		now := c.Now()
		for _, it := range its {
			e, err := Verify(it.Entry, c.Network, now, clientPolicy)
			if errors.Is(err, ErrExpired) {
				continue
			}
			if err != nil {
				return nil, cell.Errorf(cell.CodeBadAnswer, "registry dump at %s: entry refused: %v", target.Addr, err)
			}
			e.RTT = rttOf(it)
			out = append(out, *e)
		}
		if next == nil {
			return out, nil
		}
		after = next
	}
	return nil, cell.Errorf(cell.CodeBadAnswer, "registry dump at %s: too many pages", target.Addr)
}

// SelfEntry asks the node at target for its own entry and checks that it
// describes that very node.
func SelfEntry(ctx context.Context, c *cell.Client, target cell.Target) (*Entry, error) {
	ans, err := c.Call(ctx, target, DNA, KindSelf, nil)
	if err != nil {
		return nil, fmt.Errorf("registry self at %s: %w", target.Addr, err)
	}
	e, err := Verify(ans, c.Network, c.Now(), clientPolicy)
	if err != nil {
		return nil, cell.Errorf(cell.CodeBadAnswer, "registry self at %s: %v", target.Addr, err)
	}
	if !bytes.Equal(e.Node, target.Key) {
		return nil, cell.Errorf(cell.CodeBadAnswer, "registry self at %s: entry of another node", target.Addr)
	}
	return e, nil
}

func decodeList(b []byte, limit int) (*entryList, error) {
	var l entryList
	if err := wire.Unmarshal(b, &l); err != nil {
		return nil, cell.Errorf(cell.CodeBadAnswer, "undecodable entry list: %v", err)
	}
	if len(l.Items) > limit {
		return nil, cell.Errorf(cell.CodeBadAnswer, "%d entries, asked for at most %d", len(l.Items), limit)
	}
	return &l, nil
}
