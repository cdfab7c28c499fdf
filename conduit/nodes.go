package conduit

import (
	"context"
	"fmt"

	"github.com/borgios/borgios/conduit/netclient"
	"github.com/borgios/borgios/node"
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
