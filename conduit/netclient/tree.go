package netclient

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"sort"
	"sync"
	"time"

	"github.com/borgios/borgios/node/cell"
)

// Bounds of a tree crawl: the picture is for a person to look at, so a
// few hundred nodes is plenty, and a slow or dead node must not hold it up.
const (
	DefaultTreeLimit   = 256
	treeConcurrency    = 16
	DefaultTreeTimeout = 3 * time.Second
)

// Tree is a cell's tree as assembled from the nodes' own answers.
type Tree struct {
	Cell string `json:"cell"`
	// Nodes are the answers, by depth then position.
	Nodes []cell.TreeInfo `json:"nodes"`
	// Unreachable are nodes named by others (as parent, child or root)
	// that did not answer in time.
	Unreachable []cell.Endpoint `json:"unreachable,omitempty"`
	// Truncated says the crawl stopped at its limit.
	Truncated bool      `json:"truncated,omitempty"`
	At        time.Time `json:"at"`
}

// Tree asks the pool's endpoints serving dna for their place in its tree
// (cell.KindTree), follows the parents, children and roots they name, and
// returns what it found: at most limit nodes (DefaultTreeLimit when <= 0),
// treeConcurrency questions at a time, each bounded by timeout
// (DefaultTreeTimeout when <= 0). The crawl does not touch the pool's
// scores: a node the picture cannot reach is drawn as such, not failed
// over from.
func (p *Pool) Tree(ctx context.Context, dna cell.DNA, limit int, timeout time.Duration) Tree {
	if limit <= 0 {
		limit = DefaultTreeLimit
	}
	if timeout <= 0 {
		timeout = DefaultTreeTimeout
	}
	var (
		mu      sync.Mutex
		seen    = map[string]bool{}
		answers []cell.TreeInfo
		failed  []cell.Endpoint
		trunc   bool
		wg      sync.WaitGroup
		sem     = make(chan struct{}, treeConcurrency)
	)
	var ask func(t cell.Target)
	// enqueue is called with mu held.
	enqueue := func(e cell.Endpoint) {
		if e.Key == "" || e.Addr == "" || seen[e.Key] {
			return
		}
		key, err := hex.DecodeString(e.Key)
		if err != nil || len(key) != ed25519.PublicKeySize {
			return
		}
		if len(seen) >= limit {
			trunc = true
			return
		}
		seen[e.Key] = true
		wg.Add(1)
		go ask(cell.Target{Key: key, Addr: e.Addr})
	}
	ask = func(t cell.Target) {
		defer wg.Done()
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		qctx, cancel := context.WithTimeout(ctx, timeout)
		ti, err := cell.QueryTree(qctx, p.anon, t, dna)
		cancel()
		<-sem
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			failed = append(failed, cell.Endpoint{Key: hex.EncodeToString(t.Key), Addr: t.Addr})
			return
		}
		answers = append(answers, ti)
		enqueue(ti.Parent)
		enqueue(ti.Root)
		for _, c := range ti.Children {
			enqueue(c)
		}
	}
	mu.Lock()
	for _, t := range p.Endpoints(dna.Name) {
		enqueue(cell.Endpoint{Key: hex.EncodeToString(t.Key), Addr: t.Addr})
	}
	mu.Unlock()
	wg.Wait()
	sort.Slice(answers, func(i, j int) bool {
		a, b := answers[i], answers[j]
		if a.Depth != b.Depth {
			return a.Depth < b.Depth
		}
		if a.Position != b.Position {
			return a.Position < b.Position
		}
		return a.Node.Key < b.Node.Key
	})
	sort.Slice(failed, func(i, j int) bool { return failed[i].Key < failed[j].Key })
	return Tree{Cell: dna.Name, Nodes: answers, Unreachable: failed, Truncated: trunc, At: time.Now()}
}
