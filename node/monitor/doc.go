// Package monitor is every node's read-only window: GET /status (JSON) and
// GET /metrics (Prometheus text format), plus a small human status page.
// Parts of the node register status providers and collectors; nothing served
// here can change the node's state, so the monitor cannot take a node
// offline (the reference system's monitor could).
package monitor
