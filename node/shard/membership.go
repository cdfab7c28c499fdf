package shard

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/registry"
)

// Membership is the view placement is computed over: the nodes serving
// the shard cell. Placement is only as good as the view's agreement
// between nodes; the registry's signed entries give every node and client
// the same list within a refresh interval, and HRW moves only the shards
// of nodes that differ.
type Membership interface {
	Members(ctx context.Context) ([]Member, error)
}

// MembersFunc adapts a function to Membership.
type MembersFunc func(ctx context.Context) ([]Member, error)

// Members implements Membership.
func (f MembersFunc) Members(ctx context.Context) ([]Member, error) { return f(ctx) }

// maxView bounds a view taken from a local registry table.
const maxView = 1 << 20

// RegistryMembers is the view of a node running the registry cell: every
// live entry that lists the shard cell.
func RegistryMembers(reg *registry.Registry) Membership {
	return MembersFunc(func(context.Context) ([]Member, error) {
		es := reg.Lookup(DNA.Name, maxView)
		out := make([]Member, 0, len(es))
		for _, e := range es {
			if len(e.Addrs) > 0 {
				out = append(out, Member{Key: e.Node, Addr: e.Addrs[0]})
			}
		}
		return out, nil
	})
}

// RemoteMembers is the view of a client without a registry of its own (the
// conduit): it pages through the whole table (Lookup is capped at a few
// dozen entries, too few for placement) of up to three registry nodes and
// takes the union. Every entry is verified here and signed by the node it
// describes, so a union can only add genuine live nodes; asking several
// covers a registry node that has just rejoined its tree and not yet caught
// up.
func RemoteMembers(c *cell.Client, registries []cell.Target) Membership {
	return MembersFunc(func(ctx context.Context) ([]Member, error) {
		var errs []error
		seen := map[string]bool{}
		var out []Member
		asked := 0
		for _, t := range registries {
			if asked == 3 {
				break
			}
			es, err := registry.Dump(ctx, c, t)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			asked++
			for _, e := range es {
				if e.Serves(DNA.Name) && len(e.Addrs) > 0 && len(e.Node) == ed25519.PublicKeySize && !seen[string(e.Node)] {
					seen[string(e.Node)] = true
					out = append(out, Member{Key: e.Node, Addr: e.Addrs[0]})
				}
			}
		}
		if asked == 0 {
			return nil, fmt.Errorf("shard: membership: %w", errors.Join(errs...))
		}
		return out, nil
	})
}
