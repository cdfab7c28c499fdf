// Package node assembles a BorgIOS node: its key, its data directory, its
// transport, the cells it runs and its monitor. borgios node, borgios demo
// and the multi-node tests all start nodes through this package.
package node
