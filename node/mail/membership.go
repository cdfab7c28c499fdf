package mail

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/registry"
	"github.com/borgios/borgios/node/shard"
)

const maxView = 1 << 20

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }

// RegistryMembers is the mail cell's view on a node running the
// registry: every live entry that lists the mail cell.
func RegistryMembers(reg *registry.Registry) shard.Membership {
	return shard.MembersFunc(func(context.Context) ([]shard.Member, error) {
		es := reg.Lookup(DNA.Name, maxView)
		out := make([]shard.Member, 0, len(es))
		for _, e := range es {
			if len(e.Addrs) > 0 {
				out = append(out, shard.Member{Key: e.Node, Addr: e.Addrs[0]})
			}
		}
		return out, nil
	})
}

// RemoteMembers is the view of a client without a registry: the union of
// the tables of up to three registry nodes, every entry signed by the
// node it describes.
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
				if e.Serves(DNA.Name) && len(e.Addrs) > 0 && len(e.Node) == ed25519.PublicKeySize && !seen[string(e.Node)] {
					seen[string(e.Node)] = true
					out = append(out, shard.Member{Key: e.Node, Addr: e.Addrs[0]})
				}
			}
		}
		if asked == 0 {
			return nil, fmt.Errorf("mail: membership: %w", errors.Join(errs...))
		}
		return out, nil
	})
}
