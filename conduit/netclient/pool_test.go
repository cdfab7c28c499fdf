package netclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/borgios/borgios/node"
	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/registry"
	"github.com/borgios/borgios/node/shard"
)

func TestRetryable(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{context.Canceled, false},
		{context.DeadlineExceeded, true},
		{fmt.Errorf("wrapped: %w", cell.Errorf(cell.CodeUnavailable, "gone")), true},
		{cell.Errorf(cell.CodeBadAnswer, "forged"), true},
		{cell.Errorf(cell.CodeInternal, "oops"), true},
		{cell.Errorf(cell.CodeNotFound, "no such"), false},
		{cell.Errorf(cell.CodeUnauthorized, "no"), false},
		{cell.Errorf(cell.CodeBadRequest, "no"), false},
		{errors.New("connection reset"), true},
	} {
		if got := Retryable(c.err); got != c.want {
			t.Errorf("Retryable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// TestPoolFailsOver learns three nodes from one bootstrap contact, then
// closes the endpoint in use: the next Do lands on another node, the dead
// one is scored down and out of rotation, and a refusal of the request
// itself is not retried elsewhere.
func TestPoolFailsOver(t *testing.T) {
	nodes := startNetwork(t, 3)
	p := newPool(t, Config{Bootstrap: []node.Contact{nodes[0].Contact()}, MinTimeout: 2 * time.Second})
	waitLive(t, p, registry.DNA.Name, 3)

	self := func(ctx context.Context, tgt cell.Target) error {
		_, err := registry.SelfEntry(ctx, p.anon, tgt)
		return err
	}
	ctx := context.Background()
	for range 5 {
		if err := p.Do(ctx, registry.DNA.Name, self); err != nil {
			t.Fatal(err)
		}
	}
	used, _ := p.Best(registry.DNA.Name)
	var dead *node.Node
	for _, n := range nodes {
		if n.PublicKey().Equal(used.Key) {
			dead = n
		}
	}
	dead.Close()
	var answered cell.Target
	if err := p.Do(ctx, registry.DNA.Name, func(ctx context.Context, tgt cell.Target) error {
		answered = tgt
		return self(ctx, tgt)
	}); err != nil {
		t.Fatalf("Do after the endpoint in use died: %v", err)
	}
	if answered.Key.Equal(used.Key) {
		t.Fatal("answered by the node that was closed")
	}
	// A second failure takes it out of rotation.
	p.DoAt(ctx, used, self)
	for _, e := range p.Endpoints(shard.DNA.Name) {
		if e.Key.Equal(used.Key) {
			t.Fatal("a node that failed twice is still a live endpoint")
		}
	}
	var st EndpointStatus
	for _, e := range p.Status().Endpoints {
		if e.Addr == used.Addr {
			st = e
		}
	}
	if !st.Down || st.Errors < 2 || st.LastError == "" {
		t.Fatalf("dead endpoint's status: %+v", st)
	}
	if p.Status().Mode != ModeRemote {
		t.Fatalf("mode %q", p.Status().Mode)
	}

	calls := 0
	err := p.Do(ctx, registry.DNA.Name, func(context.Context, cell.Target) error {
		calls++
		return cell.Errorf(cell.CodeNotFound, "nothing")
	})
	if !cell.HasCode(err, cell.CodeNotFound) || calls != 1 {
		t.Fatalf("a refusal was retried: %d calls, %v", calls, err)
	}
	if err := p.Do(ctx, "no-such-cell", self); !errors.Is(err, ErrNoEndpoints) {
		t.Fatalf("Do for an unknown cell: %v", err)
	}
}

// TestPutSurvivesNodeDeath closes a holder in the middle of an upload: the
// upload completes on the others and reads back bit-identical.
func TestPutSurvivesNodeDeath(t *testing.T) {
	nodes := startNetwork(t, 3)
	p := newPool(t, Config{Bootstrap: []node.Contact{nodes[0].Contact()}, MinTimeout: 2 * time.Second})
	waitLive(t, p, shard.DNA.Name, 3)
	key, root := newPerson(t)
	st, err := NewStorage(StorageConfig{Pool: p, Key: key, FileRoot: root})
	if err != nil {
		t.Fatal(err)
	}
	data := testData(testBytes)
	killed := make(chan struct{})
	best, _ := p.Best(registry.DNA.Name)
	m, err := st.Put(context.Background(), bytes.NewReader(data), int64(len(data)), func(stored int64) {
		if stored >= int64(len(data))/3 {
			select {
			case <-killed:
			default:
				close(killed)
				for _, n := range nodes {
					if n.PublicKey().Equal(best.Key) {
						go n.Close()
					}
				}
			}
		}
	})
	if err != nil {
		t.Fatalf("put with a node dying: %v", err)
	}
	var out bytes.Buffer
	if _, err := st.Get(context.Background(), m, &out); err != nil {
		t.Fatalf("get: %v", err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatal("file read back differs")
	}
}

// TestUploadResumes stops an upload half-way (its context cancelled, as a
// lost network would), then runs it again: the second run stores only what
// is missing and the file reads back bit-identical.
func TestUploadResumes(t *testing.T) {
	nodes := startNetwork(t, 3)
	p := newPool(t, Config{Bootstrap: []node.Contact{nodes[0].Contact()}})
	waitLive(t, p, shard.DNA.Name, 3)
	key, root := newPerson(t)
	st, err := NewStorage(StorageConfig{Pool: p, Key: key, FileRoot: root, ChunkSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	data := testData(2 << 20)
	u := st.NewUpload(bytes.NewReader(data), int64(len(data)))
	ctx, cancel := context.WithCancel(context.Background())
	var first int64
	_, err = u.Run(ctx, func(stored int64) {
		if stored >= int64(len(data))/2 {
			first = stored
			cancel()
		}
	})
	if err == nil {
		t.Fatal("the interrupted run reported success")
	}
	var progressed []int64
	m, err := u.Run(context.Background(), func(s int64) { progressed = append(progressed, s) })
	if err != nil {
		t.Fatalf("resumed run: %v", err)
	}
	if res, _ := u.Resumed(); res != 1 {
		t.Fatalf("resumed %d times, want 1", res)
	}
	if len(progressed) == 0 || progressed[len(progressed)-1] != int64(len(data)) {
		t.Fatalf("progress after resume ended at %v, want %d", progressed, len(data))
	}
	if first == 0 || first >= int64(len(data)) {
		t.Fatalf("first run stored %d", first)
	}
	var out bytes.Buffer
	if _, err := st.Get(context.Background(), m, &out); err != nil {
		t.Fatalf("get: %v", err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatal("file read back differs")
	}
}

// TestEmbeddedNode: no bootstrap contact (and then one nobody answers on)
// runs a node in-process that stores and serves the person's files.
func TestEmbeddedNode(t *testing.T) {
	for _, tc := range []struct {
		name      string
		bootstrap []node.Contact
	}{
		{"no contacts", nil},
		{"unreachable contact", []node.Contact{{Key: make([]byte, 32), Addr: "127.0.0.1:9"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPool(t, Config{
				Bootstrap: tc.bootstrap, DataDir: t.TempDir(), ProbeTimeout: 2 * time.Second,
				Embedded: &node.Config{Cells: testCells, TreeHeartbeat: testHeartbeat, Logger: quietLogger()},
			})
			if p.Embedded() == nil || p.Status().Mode != ModeEmbedded {
				t.Fatalf("no embedded node: %+v", p.Status())
			}
			waitLive(t, p, shard.DNA.Name, 1)
			key, root := newPerson(t)
			st, err := NewStorage(StorageConfig{Pool: p, Key: key, FileRoot: root})
			if err != nil {
				t.Fatal(err)
			}
			data := testData(1 << 20)
			m, err := st.Put(context.Background(), bytes.NewReader(data), int64(len(data)), nil)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if _, err := st.Get(context.Background(), m, &out); err != nil || !bytes.Equal(out.Bytes(), data) {
				t.Fatalf("read back: %v", err)
			}
		})
	}
}

func TestNoNodeNoDataDir(t *testing.T) {
	_, err := New(context.Background(), Config{Listen: "127.0.0.1:0", Logger: quietLogger()})
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("New without contacts or data dir: %v", err)
	}
}
