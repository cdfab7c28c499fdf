// Package conduit is the person's agent on their own computer: a web server
// bound to 127.0.0.1 that serves the BorgIOS pages and a JSON API to one
// browser, holds the unlocked identity in memory only, and wipes it on
// lock, unplug, exit or idle timeout.
//
// Every request must name this server in its Host header (against DNS
// rebinding), carry the per-launch secret (as the session cookie set from
// the printed ?token= URL, or as a bearer token), and, when it changes
// state, come from our own origin (against cross-site request forgery).
// The network is reached through small interfaces: NetworkStatus for the
// pages' health, and PoolSource (NetworkClient) for the Files and Wallet
// sections, which sign each request with a copy of the person's key that
// lives only as long as the request.
package conduit
