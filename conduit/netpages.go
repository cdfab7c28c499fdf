package conduit

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/borgios/borgios/conduit/netclient"
	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/files"
	"github.com/borgios/borgios/node/ledgercell"
	"github.com/borgios/borgios/node/netclock"
	"github.com/borgios/borgios/node/registry"
	"github.com/borgios/borgios/node/shard"
	"github.com/borgios/borgios/web"
)

// treeCells are the cells whose trees the Network page can draw, registry
// first: every node runs it, so its tree is the whole network.
var treeCells = []cell.DNA{registry.DNA, netclock.DNA, shard.DNA, files.DNA, ledgercell.DNA}

func treeDNA(name string) (cell.DNA, bool) {
	for _, d := range treeCells {
		if d.Name == name {
			return d, true
		}
	}
	return cell.DNA{}, false
}

// How the tree picture is kept: built in the background, at most once per
// treeFresh per cell, and a page waits at most treeWait for the first one
// so that rendering never waits on the network for long.
const (
	treeFresh = 10 * time.Second
	treeWait  = 3 * time.Second
	treeBuild = 15 * time.Second
)

// netState is the Network and Settings pages' memory.
type netState struct {
	mu    sync.Mutex
	trees map[string]*cachedTree
	owned ownedNodes
	drawn map[string]drawnTree // by cell
}

// drawnTree is a rendered tree picture and the treeVersion it shows.
type drawnTree struct {
	version, html string
}

type cachedTree struct {
	tree  netclient.Tree
	ok    bool          // tree holds a finished crawl
	built time.Time     // when it finished
	ready chan struct{} // closed when the crawl in progress ends; nil when none
}

// net is the Network page's state, made on first use.
func (s *Server) net() *netState {
	s.netOnce.Do(func() {
		s.netSt = &netState{trees: map[string]*cachedTree{}, drawn: map[string]drawnTree{}}
	})
	return s.netSt
}

// tree returns the latest crawl of dna's tree over p, starting a new one
// when the last is older than treeFresh. It waits up to wait for a crawl
// only when there is nothing to show yet.
func (s *Server) tree(ctx context.Context, p *netclient.Pool, dna cell.DNA, wait time.Duration) (netclient.Tree, bool) {
	st := s.net()
	st.mu.Lock()
	c := st.trees[dna.Name]
	if c == nil {
		c = &cachedTree{}
		st.trees[dna.Name] = c
	}
	if c.ready == nil && (!c.ok || time.Since(c.built) > treeFresh) {
		ready := make(chan struct{})
		c.ready = ready
		go func() {
			// The crawl outlives the request that started it, but not the
			// server.
			bctx, cancel := context.WithTimeout(context.Background(), treeBuild)
			defer cancel()
			go func() {
				select {
				case <-s.done:
					cancel()
				case <-bctx.Done():
				}
			}()
			t := p.Tree(bctx, dna, netclient.DefaultTreeLimit, netclient.DefaultTreeTimeout)
			st.mu.Lock()
			c.tree, c.ok, c.built, c.ready = t, true, time.Now(), nil
			st.mu.Unlock()
			close(ready)
		}()
	}
	tree, ok, ready := c.tree, c.ok, c.ready
	st.mu.Unlock()
	if ok || ready == nil || wait <= 0 {
		return tree, ok
	}
	tm := time.NewTimer(wait)
	defer tm.Stop()
	select {
	case <-ready:
	case <-tm.C:
		return netclient.Tree{}, false
	case <-ctx.Done():
		return netclient.Tree{}, false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return c.tree, c.ok
}

// networkPage is GET /network: health, the clock, nodes per cell, the
// tree picture with this conduit's endpoints marked, and the endpoints
// with their transfer rates.
func (s *Server) networkPage(w http.ResponseWriter, r *http.Request) {
	v := web.NetworkPageView{Page: s.chrome("Network", web.NavNetwork), Network: s.netView(r.Context()).view()}
	v.Page.Styles = append(v.Page.Styles, "network.css")
	if p := s.pool(); p != nil {
		d := s.networkDetail(r.Context(), p, r.URL.Query().Get("cell"), treeWait)
		v.Detail = &d
	}
	s.render(w, r, http.StatusOK, web.NetworkPage(v))
}

// networkTreeFragment is GET /network/tree?cell=NAME: the picture and its
// text equivalent alone, for the page script to swap in when the tree
// changes.
func (s *Server) networkTreeFragment(w http.ResponseWriter, r *http.Request) {
	p := s.pool()
	if p == nil {
		http.Error(w, "not connected", http.StatusServiceUnavailable)
		return
	}
	d := s.networkDetail(r.Context(), p, r.URL.Query().Get("cell"), treeWait)
	s.render(w, r, http.StatusOK, web.TreeFigure(d.Tree))
}

func (s *Server) networkDetail(ctx context.Context, p *netclient.Pool, cellName string, wait time.Duration) web.NetworkDetail {
	dna, ok := treeDNA(cellName)
	if !ok {
		dna = registry.DNA
	}
	st := p.Status()
	tr, built := s.tree(ctx, p, dna, wait)
	return s.detailFrom(tr, built, st)
}

// detailFrom builds the page's view of a crawl and a pool status. The
// tree's picture is drawn once per change (treeVersion) and kept: with a
// few hundred nodes it is most of the page's cost, and it changes far
// less often than the page is polled or opened.
func (s *Server) detailFrom(tr netclient.Tree, built bool, st netclient.Status) web.NetworkDetail {
	d := web.NetworkDetail{Clock: clockView(st.Clock)}
	if built {
		d.Tree = s.drawnTree(tr, st)
	} else {
		d.Tree = treeView(tr, false, st)
	}
	d.Tree.Cell = tr.Cell
	if d.Tree.Cell == "" {
		d.Tree.Cell = registry.DNA.Name
	}
	for _, c := range treeCells {
		d.Tree.Cells = append(d.Tree.Cells, c.Name)
	}
	names := make([]string, 0, len(st.Live))
	for c := range st.Live {
		names = append(names, c)
	}
	sort.Strings(names)
	for _, c := range names {
		d.Cells = append(d.Cells, web.CellCount{Name: c, Live: st.Live[c]})
	}
	for _, e := range st.Endpoints {
		d.Endpoints = append(d.Endpoints, endpointView(e))
	}
	return d
}

func endpointView(e netclient.EndpointStatus) web.EndpointView {
	ev := web.EndpointView{
		Key: e.Key, Short: shortHex(e.Key), Addr: e.Addr, Cells: strings.Join(e.Cells, ", "),
		InUse: strings.Join(e.InUse, ", "), Down: e.Down,
		Up: web.Rate(e.UpRate), DownRate: web.Rate(e.DownRate),
		Sent: web.Bytes(e.Sent), Received: web.Bytes(e.Received),
	}
	if e.LatencyMs > 0 {
		ev.Latency = strconv.FormatFloat(e.LatencyMs, 'f', 1, 64) + " ms"
	} else {
		ev.Latency = "—"
	}
	return ev
}

func shortHex(k string) string {
	if len(k) > 8 {
		return k[:8]
	}
	return k
}

// clockView says the offset the way a person reads it.
func clockView(c *netclient.ClockOffset) web.ClockView {
	if c == nil {
		return web.ClockView{Offset: "—", Note: "Not measured yet."}
	}
	v := web.ClockView{Offset: formatOffset(c.OffsetMs), Measured: true}
	switch {
	case c.Adjustment == "disputed":
		v.Note = fmt.Sprintf("The nodes asked disagree about the time (fewer than two agree); BorgIOS keeps its own (%s from this computer's clock).", formatOffset(c.AppliedMs))
	case !c.Synced:
		v.Note = "The node asked has not synced to network time yet."
	case math.Abs(c.OffsetMs) < 1000:
		v.Note = fmt.Sprintf("This computer's clock agrees with network time (measured to ±%.1f ms).", c.RTTMs/2)
	default:
		v.Note = fmt.Sprintf("This computer's clock is off; BorgIOS signs with network time (%s from this computer's clock, %d nodes agreeing), so nothing needs doing.", formatOffset(c.AppliedMs), c.Agreeing)
	}
	return v
}

func formatOffset(ms float64) string {
	a := math.Abs(ms)
	if a < 0.05 {
		return "0.0 ms"
	}
	sign := "+"
	if ms < 0 {
		sign = "−"
	}
	if a >= 1000 {
		return sign + strconv.FormatFloat(a/1000, 'f', 2, 64) + " s"
	}
	return sign + strconv.FormatFloat(a, 'f', 1, 64) + " ms"
}

// drawnTree returns the tree's view with its picture rendered, from the
// cache when nothing it shows has changed.
func (s *Server) drawnTree(tr netclient.Tree, st netclient.Status) web.TreeView {
	ver := treeVersion(tr, st)
	ns := s.net()
	ns.mu.Lock()
	c, ok := ns.drawn[tr.Cell]
	ns.mu.Unlock()
	if ok && c.version == ver {
		return web.TreeView{Drawn: c.html}
	}
	v := treeView(tr, true, st)
	var b strings.Builder
	if err := web.NetworkTree(v).Render(context.Background(), &b); err != nil {
		s.log.Error("conduit: drawing the tree", "err", err)
		return v
	}
	ns.mu.Lock()
	ns.drawn[tr.Cell] = drawnTree{version: ver, html: b.String()}
	ns.mu.Unlock()
	return web.TreeView{Drawn: b.String()}
}

// networkJSON is GET /api/network: what the page script polls.
type networkJSON struct {
	Network   NetView                `json:"network"`
	Connected bool                   `json:"connected"`
	Clock     *netclient.ClockOffset `json:"clock,omitempty"`
	Live      map[string]int         `json:"live,omitempty"`
	Endpoints []networkEndpointJSON  `json:"endpoints"`
	Tree      *netclient.Tree        `json:"tree,omitempty"`
	// TreeVersion changes whenever the drawn picture would: the page
	// fetches the picture again only then.
	TreeVersion string `json:"tree_version,omitempty"`
}

type networkEndpointJSON struct {
	netclient.EndpointStatus
	UpText   string `json:"up_text"`
	DownText string `json:"down_text"`
	SentText string `json:"sent_text"`
	RecvText string `json:"received_text"`
}

// apiNetwork answers the network status, clock, per-cell counts, every
// endpoint with its traffic, and the last tree crawl (?cell=, default
// registry; it never waits for a crawl).
func (s *Server) apiNetwork(w http.ResponseWriter, r *http.Request) {
	out := networkJSON{Network: s.netView(r.Context()), Endpoints: []networkEndpointJSON{}}
	p := s.pool()
	if p != nil {
		out.Connected = true
		st := p.Status()
		out.Clock, out.Live = st.Clock, st.Live
		for _, e := range st.Endpoints {
			out.Endpoints = append(out.Endpoints, networkEndpointJSON{EndpointStatus: e,
				UpText: web.Rate(e.UpRate), DownText: web.Rate(e.DownRate), SentText: web.Bytes(e.Sent), RecvText: web.Bytes(e.Received)})
		}
		dna, ok := treeDNA(r.URL.Query().Get("cell"))
		if !ok {
			dna = registry.DNA
		}
		if tr, ok := s.tree(r.Context(), p, dna, 0); ok {
			out.Tree = &tr
			out.TreeVersion = treeVersion(tr, st)
		}
	}
	writeJSON(w, http.StatusOK, out)
}
