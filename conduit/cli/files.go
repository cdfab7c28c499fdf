package cli

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/borgios/borgios/conduit"
	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/files"
	"github.com/borgios/borgios/node/ledgercell"
	"github.com/borgios/borgios/node/registry"
	"github.com/borgios/borgios/node/shard"
	"github.com/borgios/borgios/node/stream"
)

func init() { subcommands = append(subcommands, newFilesCmd) }

type filesFlags struct {
	personFlags
	asJSON    bool
	recursive bool
	progress  string
}

func newFilesCmd() *cobra.Command {
	var f filesFlags
	cmd := &cobra.Command{
		Use:   "files",
		Short: "Your file tree on the network: put, get, ls, rm, mkdir",
		Long: `Talks to running nodes (--peer NODEKEY@HOST:PORT, repeatable: the others are
used when one is down) with your account key. Your recovery phrase is read
from standard input (first line; an optional BIP39 passphrase on the second),
or your key file with --keyfile, as for 'borgios wallet'.

Files are encrypted here before they leave; the nodes keep only sealed
shards, encrypted directories and your signed head record, so the whole tree
comes back on any machine from the phrase alone. Two machines changing the
tree at once never lose an update: the later one re-reads and merges.`,
	}
	pf := cmd.PersistentFlags()
	f.register(pf, 2*time.Hour)
	pf.BoolVar(&f.asJSON, "json", false, "print JSON")
	pf.StringVar(&f.progress, "progress", "auto", "progress on stderr: auto (a bar on a terminal, a few lines otherwise), always, never")
	ls := &cobra.Command{Use: "ls [REMOTE]", Short: "List a directory (the root by default)", Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return f.run(cmd, args, filesLs) }}
	ls.Flags().BoolVarP(&f.recursive, "recursive", "r", false, "list everything below")
	cmd.AddCommand(
		&cobra.Command{Use: "put LOCAL REMOTE", Short: "Upload a file (or a directory, recursively) to REMOTE", Args: cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error { return f.run(cmd, args, filesPut) }},
		&cobra.Command{Use: "get REMOTE LOCAL", Short: "Download a file (or a directory, recursively) to LOCAL", Args: cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error { return f.run(cmd, args, filesGet) }},
		ls,
		&cobra.Command{Use: "rm REMOTE", Short: "Remove a file or a directory with everything in it", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error { return f.run(cmd, args, filesRm) }},
		&cobra.Command{Use: "mkdir REMOTE", Short: "Create a directory and its parents", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error { return f.run(cmd, args, filesMkdir) }},
	)
	return cmd
}

type filesCtx struct {
	f      *filesFlags
	out    io.Writer
	errOut io.Writer
	bars   bool // a redrawn bar (terminal) rather than plain lines
	quiet  bool
	client *files.Client
	shards *shard.Client
	fetch  *stream.Fetcher

	// Delivery receipts for what a get reads (holders earn their
	// bandwidth rewards from them): started by filesGet.
	caller  *cell.Client
	peers   []cell.Target
	account ed25519.PrivateKey
	rcpt    atomic.Pointer[conduit.Receipts]
}

func (f *filesFlags) run(cmd *cobra.Command, args []string, do func(context.Context, *filesCtx, []string) error) error {
	pc, err := f.connect(cmd, "files")
	if err != nil {
		return err
	}
	defer pc.close()
	ctx, cancel := f.context(cmd)
	defer cancel()
	k, caller, view, targets := pc.keys, pc.caller, pc.view, pc.peers
	sc, err := shard.NewClient(shard.ClientConfig{Call: caller, FileRoot: &k.FileRoot, Members: view.members(shard.DNA.Name)})
	if err != nil {
		return fmt.Errorf("files: %w", err)
	}
	fc, err := files.NewClient(files.ClientConfig{Call: caller, Shards: sc, Members: view.members(files.DNA.Name)})
	if err != nil {
		return fmt.Errorf("files: %w", err)
	}
	// Downloads use the stream fetcher: every holder of a piece at once,
	// verified piece by piece and as a whole, resumable.
	w := &filesCtx{f: f, out: cmd.OutOrStdout(), errOut: cmd.ErrOrStderr(), client: fc, shards: sc,
		caller: caller, peers: targets, account: k.Account}
	fetch, err := stream.NewFetcher(stream.Config{Call: caller, FileRoot: &k.FileRoot, Members: view.members(shard.DNA.Name),
		OnDelivery: func(e stream.DeliveryEvent) {
			if r := w.rcpt.Load(); r != nil {
				r.FromStream(e)
			}
		}})
	if err != nil {
		return fmt.Errorf("files: %w", err)
	}
	defer fetch.Close()
	w.fetch = fetch
	switch f.progress {
	case "never":
		w.quiet = true
	case "always":
		w.bars = true
	case "auto", "":
		if ef, ok := w.errOut.(*os.File); ok && term.IsTerminal(int(ef.Fd())) {
			w.bars = true
		}
	default:
		return fmt.Errorf("--progress %q: want auto, always or never", f.progress)
	}
	return do(ctx, w, args)
}

// progressMin is the size from which a transfer shows progress.
const progressMin = 1 << 20

// progress reports one transfer's bytes, rate and ETA on stderr: a bar
// redrawn in place on a terminal, a line per quarter otherwise (logs and
// pipes stay readable).
type progress struct {
	w       io.Writer
	bar     bool
	name    string
	total   int64
	start   time.Time
	done    atomic.Int64
	sources atomic.Int64 // holders a download came from so far (0: not shown)
	stop    chan struct{}
	stopped chan struct{}
}

func (w *filesCtx) startProgress(name string, total int64) *progress {
	if w.quiet || total < progressMin {
		return nil
	}
	p := &progress{w: w.errOut, bar: w.bars, name: name, total: total, start: time.Now(),
		stop: make(chan struct{}), stopped: make(chan struct{})}
	go p.loop()
	return p
}

func (p *progress) set(n int64) {
	if p != nil {
		p.done.Store(n)
	}
}

func (p *progress) loop() {
	defer close(p.stopped)
	every := 200 * time.Millisecond
	if !p.bar {
		every = time.Second
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	quarter := int64(0)
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
		n := p.done.Load()
		if p.bar {
			fmt.Fprintf(p.w, "\r%s", p.line(n))
		} else if q := n * 4 / max(p.total, 1); q > quarter && q < 4 {
			quarter = q
			fmt.Fprintln(p.w, p.line(n))
		}
	}
}

func (p *progress) line(n int64) string {
	el := time.Since(p.start).Seconds()
	rate := float64(n) / max(el, 1e-3)
	eta := "--"
	if rate > 0 && n < p.total {
		eta = time.Duration(float64(p.total-n) / rate * float64(time.Second)).Round(time.Second).String()
	}
	pct := float64(n) * 100 / float64(max(p.total, 1))
	src := ""
	if k := p.sources.Load(); k > 0 {
		src = fmt.Sprintf(" from %d source%s", k, map[bool]string{true: "", false: "s"}[k == 1])
	}
	if p.bar {
		const width = 24
		fill := int(pct / 100 * width)
		return fmt.Sprintf("%s [%s%s] %5.1f%% %s/%s %s/s%s ETA %s ", p.name, strings.Repeat("=", fill), strings.Repeat(" ", width-fill),
			pct, humanBytes(n), humanBytes(p.total), humanBytes(int64(rate)), src, eta)
	}
	return fmt.Sprintf("%s: %.0f%% %s of %s, %s/s%s, ETA %s", p.name, pct, humanBytes(n), humanBytes(p.total), humanBytes(int64(rate)), src, eta)
}

func (p *progress) finish(err error) {
	if p == nil {
		return
	}
	close(p.stop)
	<-p.stopped
	n := p.done.Load()
	el := time.Since(p.start)
	if p.bar {
		fmt.Fprint(p.w, "\r\033[K")
	}
	if err == nil {
		src := ""
		if k := p.sources.Load(); k > 0 {
			src = fmt.Sprintf(", %d source%s", k, map[bool]string{true: "", false: "s"}[k == 1])
		}
		fmt.Fprintf(p.w, "%s: %s in %s (%s/s%s)\n", p.name, humanBytes(n), el.Round(time.Millisecond), humanBytes(int64(float64(n)/max(el.Seconds(), 1e-3))), src)
	}
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func remoteJoin(dir, name string) string { return path.Join("/", dir, name) }

func filesPut(ctx context.Context, w *filesCtx, args []string) error {
	local, remote := args[0], args[1]
	st, err := os.Stat(local)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return w.putOne(ctx, local, remote, st.Size())
	}
	return filepath.WalkDir(local, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(local, p)
		if err != nil {
			return err
		}
		dst := remoteJoin(remote, filepath.ToSlash(rel))
		if d.IsDir() {
			return w.client.Mkdir(ctx, dst)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return w.putOne(ctx, p, dst, info.Size())
	})
}

func (w *filesCtx) putOne(ctx context.Context, local, remote string, size int64) error {
	fh, err := os.Open(local)
	if err != nil {
		return err
	}
	defer fh.Close()
	p := w.startProgress("put "+remote, size)
	e, err := w.client.Put(ctx, remote, fh, p.set)
	p.finish(err)
	if err != nil {
		return err
	}
	if w.f.asJSON {
		return writeJSON(w.out, entryOutput{Path: path.Clean("/" + remote), Kind: e.Kind.String(), Size: e.Size, MTime: e.MTime})
	}
	fmt.Fprintf(w.out, "put %s (%s)\n", path.Clean("/"+remote), humanBytes(e.Size))
	return nil
}

func filesGet(ctx context.Context, w *filesCtx, args []string) error {
	remote, local := args[0], args[1]
	defer w.startReceipts(ctx)() // signs and delivers what was read (a few seconds at most)
	e, err := w.client.Stat(ctx, remote)
	if err != nil {
		return err
	}
	if e.Kind == files.KindFile {
		return w.getOne(ctx, path.Clean("/"+remote), e, local)
	}
	base := path.Clean("/" + remote)
	if err := os.MkdirAll(local, 0o755); err != nil {
		return err
	}
	return w.client.Walk(ctx, base, func(p string, e files.Entry) error {
		rel := strings.TrimPrefix(strings.TrimPrefix(p, base), "/")
		dst := filepath.Join(local, filepath.FromSlash(rel))
		if e.Kind == files.KindDir {
			return os.MkdirAll(dst, 0o755)
		}
		return w.getOne(ctx, p, e, dst)
	})
}

// getOne fetches into a partial file next to local (all holders at once,
// every piece verified, the whole file checked) and renames it into place
// only once every byte was verified, so a failed download never leaves a
// truncated file under the real name. The partial file and its progress
// stay after an interruption: the same command again resumes with only
// the missing pieces.
func (w *filesCtx) getOne(ctx context.Context, remote string, e files.Entry, local string) error {
	if e.Kind != files.KindFile {
		return fmt.Errorf("files get %s: %w", remote, files.ErrIsDir)
	}
	m, err := w.shards.OpenManifest(e.Ref)
	if err != nil {
		return fmt.Errorf("files get %s: %w", remote, err)
	}
	part := filepath.Join(filepath.Dir(local), "."+filepath.Base(local)+".borgios-part")
	p := w.startProgress("get "+remote, e.Size)
	var onProgress func(stream.Progress)
	if p != nil {
		onProgress = func(pr stream.Progress) {
			p.set(pr.Bytes)
			p.sources.Store(int64(pr.Sources))
		}
	}
	rep, err := w.fetch.FetchFile(ctx, m, part, onProgress)
	if p != nil {
		p.sources.Store(int64(len(rep.Sources)))
	}
	p.finish(err)
	if err != nil {
		if errors.Is(err, stream.ErrFileHash) {
			os.Remove(part)
		} else if _, serr := os.Stat(part + ".progress"); serr == nil {
			return fmt.Errorf("files get %s: %w (partial download kept in %s; run the same command again to resume)", remote, err, part)
		} else {
			os.Remove(part)
		}
		return fmt.Errorf("files get %s: %w", remote, err)
	}
	if err := os.Rename(part, local); err != nil {
		return err
	}
	if w.f.asJSON {
		return writeJSON(w.out, entryOutput{Path: remote, Kind: e.Kind.String(), Size: e.Size, MTime: e.MTime})
	}
	fmt.Fprintf(w.out, "got %s (%s) -> %s\n", remote, humanBytes(e.Size), local)
	return nil
}

type entryOutput struct {
	Path  string `json:"path"`
	Kind  string `json:"kind"`
	Size  int64  `json:"size"`
	MTime int64  `json:"mtime_ms"`
}

func filesLs(ctx context.Context, w *filesCtx, args []string) error {
	dir := "/"
	if len(args) == 1 {
		dir = path.Clean("/" + args[0])
	}
	var out []entryOutput
	add := func(p string, e files.Entry) error {
		out = append(out, entryOutput{Path: p, Kind: e.Kind.String(), Size: e.Size, MTime: e.MTime})
		return nil
	}
	if w.f.recursive {
		if err := w.client.Walk(ctx, dir, add); err != nil {
			return err
		}
	} else {
		es, err := w.client.List(ctx, dir)
		if err != nil {
			return err
		}
		for _, e := range es {
			add(remoteJoin(dir, e.Name), e)
		}
	}
	if w.f.asJSON {
		if out == nil {
			out = []entryOutput{}
		}
		return writeJSON(w.out, out)
	}
	for _, e := range out {
		name := e.Path
		if e.Kind == "dir" {
			name += "/"
		}
		size := humanBytes(e.Size)
		if e.Kind == "dir" {
			size = fmt.Sprintf("%d entries", e.Size)
		}
		fmt.Fprintf(w.out, "%-4s %12s  %s  %s\n", e.Kind, size, time.UnixMilli(e.MTime).UTC().Format("2006-01-02 15:04"), name)
	}
	return nil
}

func filesRm(ctx context.Context, w *filesCtx, args []string) error {
	if err := w.client.Remove(ctx, args[0]); err != nil {
		return err
	}
	fmt.Fprintf(w.out, "removed %s\n", path.Clean("/"+args[0]))
	return nil
}

func filesMkdir(ctx context.Context, w *filesCtx, args []string) error {
	if err := w.client.Mkdir(ctx, args[0]); err != nil {
		return err
	}
	fmt.Fprintf(w.out, "made %s\n", path.Clean("/"+args[0]))
	return nil
}

// peerView is the membership of a short-lived command: the registry tables
// of all --peer nodes, asked in parallel (a dead peer costs no more than a
// short grace once another answered) and kept for the command's life, so
// an upload of many files does not ask again per file.
type peerView struct {
	call  *cell.Client
	peers []cell.Target
	mu    sync.Mutex
	table []registry.Entry
	at    time.Time
}

const peerViewTTL = 30 * time.Second

func (v *peerView) load(ctx context.Context) ([]registry.Entry, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.table != nil && time.Since(v.at) < peerViewTTL {
		return v.table, nil
	}
	type result struct {
		es  []registry.Entry
		err error
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	results := make(chan result, len(v.peers))
	for _, p := range v.peers {
		go func() {
			es, err := registry.Dump(ctx, v.call, p)
			results <- result{es, err}
		}()
	}
	var (
		errs  []error
		table []registry.Entry
		ok    int
		grace <-chan time.Time
	)
	seen := map[string]bool{}
collect:
	for range v.peers {
		select {
		case r := <-results:
			if r.err != nil {
				errs = append(errs, r.err)
				continue
			}
			ok++
			for _, e := range r.es {
				if !seen[string(e.Node)] {
					seen[string(e.Node)] = true
					table = append(table, e)
				}
			}
			if grace == nil {
				grace = time.After(time.Second)
			}
		case <-grace:
			break collect
		}
	}
	if ok == 0 {
		return nil, fmt.Errorf("no --peer node answered: %w", errors.Join(errs...))
	}
	v.table, v.at = table, time.Now()
	return table, nil
}

func (v *peerView) members(cellName string) shard.Membership {
	return shard.MembersFunc(func(ctx context.Context) ([]shard.Member, error) {
		es, err := v.load(ctx)
		if err != nil {
			return nil, err
		}
		var out []shard.Member
		for _, e := range es {
			if e.Serves(cellName) && len(e.Addrs) > 0 && len(e.Node) == ed25519.PublicKeySize {
				out = append(out, shard.Member{Key: e.Node, Addr: e.Addrs[0]})
			}
		}
		return out, nil
	})
}

// startReceipts signs delivery receipts for what this command reads, so
// the holders that served it earn their bandwidth rewards, as the conduit
// does. It starts in the background (it needs the ledger's genesis from a
// peer; the download does not wait for that) and is best effort: a
// network without a ledger, or peers that do not answer, only means no
// receipts. The function it returns signs and delivers what is pending.
func (w *filesCtx) startReceipts(ctx context.Context) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, p := range w.peers {
			pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
			g, err := ledgercell.FetchGenesis(pctx, w.caller, p)
			pcancel()
			if err != nil {
				continue
			}
			r, err := conduit.NewReceipts(conduit.ReceiptsConfig{Genesis: g, Key: w.account, Caller: w.caller, Now: w.caller.Now,
				Resolve: ledgercell.LookupResolver(w.caller, p), Logger: slog.New(slog.DiscardHandler)})
			if err == nil {
				w.rcpt.Store(r)
			}
			return
		}
	}()
	return func() {
		cancel()
		<-done
		if r := w.rcpt.Swap(nil); r != nil {
			r.Close()
		}
	}
}
