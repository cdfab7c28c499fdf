package conduit

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/borgios/borgios/conduit/netclient"
	"github.com/borgios/borgios/node"
	"github.com/borgios/borgios/node/ledger"
)

// LocalNodes reports the network as seen by nodes running in this process:
// the demo network, or the embedded node of a stick that reaches no one.
type LocalNodes struct {
	Nodes   []*node.Node
	Network string
	// Mode names how the conduit reaches the network, e.g. "demo network".
	Mode string
}

// Status summarises the nodes' registry trees: healthy when every node is
// placed in one tree holding all of them.
func (l LocalNodes) Status(ctx context.Context) NetView {
	v := NetView{Mode: l.Mode, NetworkID: l.Network, Peers: len(l.Nodes)}
	if len(l.Nodes) == 0 {
		v.Health, v.Summary = HealthOffline, "No node is running."
		return v
	}
	placed, root := 0, ""
	oneTree := true
	for _, n := range l.Nodes {
		rt := n.Cell("registry")
		if rt == nil {
			continue
		}
		tv := rt.View()
		if tv.Position >= 1 {
			placed++
		}
		if root == "" {
			root = tv.Root.Key
		} else if tv.Root.Key != root {
			oneTree = false
		}
	}
	switch {
	case placed == len(l.Nodes) && oneTree:
		v.Health = HealthOK
		v.Summary = fmt.Sprintf("Connected: %d nodes in one tree.", len(l.Nodes))
	case placed > 0:
		v.Health = HealthDegraded
		v.Summary = fmt.Sprintf("%d of %d nodes placed; the tree is still forming.", placed, len(l.Nodes))
	default:
		v.Health = HealthUnknown
		v.Summary = "The nodes are starting."
	}
	return v
}

// DemoNetwork is what `borgios demo` gives the pages: the status of its
// in-process nodes, and a network client to them so that Files and Wallet
// work exactly as they do against remote nodes.
type DemoNetwork struct {
	LocalNodes
	Client *NetworkClient
}

// Pool hands out the client's endpoint pool (nil until it has connected).
func (d DemoNetwork) Pool() *netclient.Pool { return d.Client.Pool() }

// BindingPrefix starts a node binding in text, so that a person pasting
// the wrong thing (an address, a contact) gets a clear error.
const BindingPrefix = "borgios-binding:"

// ErrBindingText: pasted text is not a node binding.
var ErrBindingText = errors.New("conduit: not a node binding")

// EncodeBinding is a binding's canonical bytes as one line of text:
// BindingPrefix and base64url, short enough to paste through a terminal.
func EncodeBinding(b *ledger.NodeBinding) string {
	return BindingPrefix + base64.RawURLEncoding.EncodeToString(b.Encode())
}

// DecodeBinding reads EncodeBinding's text (surrounding white space, line
// breaks a terminal added, and a missing prefix are forgiven). It checks
// the encoding, not the signatures.
func DecodeBinding(text string) (*ledger.NodeBinding, error) {
	t := strings.Join(strings.Fields(text), "")
	t = strings.TrimPrefix(t, BindingPrefix)
	if t == "" {
		return nil, fmt.Errorf("%w: nothing pasted", ErrBindingText)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(t, "="))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBindingText, err)
	}
	b, err := ledger.DecodeNodeBinding(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBindingText, err)
	}
	return b, nil
}

// ownedNodes is the "Nodes I own" list this conduit approved since it
// started. It lives in memory only, like everything else the conduit
// knows about the person; the ledger's history adds the nodes that have
// earned.
type ownedNodes struct {
	mu    sync.Mutex
	nodes []ownedNode
}

type ownedNode struct {
	owner ledger.AccountID
	node  ledger.AccountID
	at    time.Time
}

func (o *ownedNodes) add(owner, node ledger.AccountID, at time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, n := range o.nodes {
		if n.owner == owner && n.node == node {
			o.nodes[i].at = at
			return
		}
	}
	o.nodes = append(o.nodes, ownedNode{owner: owner, node: node, at: at})
}

// of returns the nodes bound to owner, oldest first.
func (o *ownedNodes) of(owner ledger.AccountID) []ownedNode {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []ownedNode
	for _, n := range o.nodes {
		if n.owner == owner {
			out = append(out, n)
		}
	}
	return out
}
