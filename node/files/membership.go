package files

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/registry"
	"github.com/borgios/borgios/node/shard"
)

const maxView = 1 << 20

// servesThis reports whether an entry lists this version of the files
// cell: nodes of another version speak another protocol, and counting
// them as holders would only make every call to them fail.
func servesThis(e *registry.Entry) bool {
	for _, c := range e.Cells {
		if c.Name == DNA.Name && c.Version == DNA.Version {
			return true
		}
	}
	return false
}

// RegistryMembers is the files cell's view on a node running the
// registry: every live entry that lists this version of the files cell.
func RegistryMembers(reg *registry.Registry) shard.Membership {
	return shard.MembersFunc(func(context.Context) ([]shard.Member, error) {
		es := reg.Lookup(DNA.Name, maxView)
		out := make([]shard.Member, 0, len(es))
		for _, e := range es {
			if len(e.Addrs) > 0 && servesThis(e) {
				out = append(out, shard.Member{Key: e.Node, Addr: e.Addrs[0]})
			}
		}
		return out, nil
	})
}

// RemoteMembers is the view of a client without a registry (the conduit,
// the CLI): the union of the whole tables of up to three registry nodes,
// every entry verified and signed by the node it describes.
func RemoteMembers(c *cell.Client, registries []cell.Target) shard.Membership {
	return shard.MembersFunc(func(ctx context.Context) ([]shard.Member, error) {
		var errs []error
		seen := map[string]bool{}
		var out []shard.Member
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
				if servesThis(&e) && len(e.Addrs) > 0 && len(e.Node) == ed25519.PublicKeySize && !seen[string(e.Node)] {
					seen[string(e.Node)] = true
					out = append(out, shard.Member{Key: e.Node, Addr: e.Addrs[0]})
				}
			}
		}
		if asked == 0 {
			return nil, fmt.Errorf("files: membership: %w", errors.Join(errs...))
		}
		return out, nil
	})
}
