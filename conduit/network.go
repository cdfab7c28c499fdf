package conduit

import (
	"context"

	"github.com/borgios/borgios/web"
)

// NetworkStatus is what the pages need from the network: one snapshot of
// how the conduit reaches it. The embedded node and the remote-node client
// implement it; Status is called per page view and every few seconds for
// the live stream, so it must answer from memory and honour ctx.
type NetworkStatus interface {
	Status(ctx context.Context) NetView
}

// Health is the network's state in one word.
type Health string

// Health values.
const (
	HealthOK       Health = "ok"       // enough nodes reachable for every service
	HealthDegraded Health = "degraded" // working, with fewer nodes or services than wanted
	HealthOffline  Health = "offline"  // no node reachable
	HealthUnknown  Health = "unknown"  // nothing plugged in yet, or no answer in time
)

// NetView is a snapshot of the network as the conduit sees it.
type NetView struct {
	Health Health `json:"health"`
	// Summary is one sentence a person can act on, e.g. "Connected to 4
	// nodes" or "No node reachable: check the internet connection".
	Summary string `json:"summary"`
	// Mode says how the conduit reaches the network, e.g. "embedded node"
	// or "remote nodes"; empty when not connected.
	Mode string `json:"mode"`
	// Peers is how many nodes the conduit is connected to.
	Peers int `json:"peers"`
	// NetworkID names the network joined; empty when none.
	NetworkID string `json:"network_id"`
}

// StaticStatus is a NetworkStatus that always reports the same view: the
// default before a network is plugged in, and a real (not mocked) value
// for tests and demos.
type StaticStatus NetView

// Status returns the fixed view.
func (s StaticStatus) Status(context.Context) NetView { return NetView(s) }

// notConnected is the honest default until the embedded node exists.
var notConnected = StaticStatus{
	Health:  HealthUnknown,
	Summary: "Not connected to a network yet.",
}

func (n NetView) view() web.NetworkView {
	h := web.Health(n.Health)
	switch h {
	case web.HealthOK, web.HealthDegraded, web.HealthOffline:
	default:
		h = web.HealthUnknown
	}
	return web.NetworkView{Health: h, Summary: n.Summary, Mode: n.Mode, Peers: n.Peers, NetworkID: n.NetworkID}
}
