package celltest_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/cell/celltest"
)

var echoDNA = cell.DNA{Name: "echo", MaxChildren: 4, Protocol: "echo/1", Version: 1}

func echoType() cell.Type {
	return cell.Type{DNA: echoDNA, Receptor: map[string]cell.ReceptorFunc{
		"echo": func(_ context.Context, req *cell.Request) ([]byte, error) { return req.Env.Payload, nil },
	}}
}

// TestNetwork: three nodes form one tree of a cell, a conduit-like client
// calls one, a killed node stops answering and runs its OnKill functions
// last registered first.
func TestNetwork(t *testing.T) {
	net := celltest.New(t, celltest.Config{Network: "celltest-test"})
	a := net.Add()
	b := net.Add(a)
	c := net.Add(a, b)
	rts := map[*celltest.Node]*cell.Runtime{}
	for _, n := range []*celltest.Node{a, b, c} {
		rts[n] = n.Start(echoType())
	}
	celltest.WaitTree(t, net.Nodes(), func(n *celltest.Node) cell.View { return rts[n].View() })

	cl := net.Client(celltest.NewKey(t))
	ctx, cancel := context.WithTimeout(context.Background(), celltest.Scale(10*time.Second))
	defer cancel()
	if out, err := cl.Call(ctx, c.Target(), echoDNA, "echo", []byte("hi")); err != nil || string(out) != "hi" {
		t.Fatalf("echo: %q, %v", out, err)
	}
	if _, err := b.Client().Call(ctx, c.Target(), echoDNA, "echo", []byte("x")); err != nil {
		t.Fatalf("node to node: %v", err)
	}

	var order []int
	c.OnKill(func() { order = append(order, 1) })
	c.OnKill(func() { order = append(order, 2) })
	c.Kill()
	c.Kill()
	if !slices.Equal(order, []int{2, 1}) || !c.Killed() {
		t.Fatalf("kill order %v", order)
	}
	if _, err := cl.Call(ctx, c.Target(), echoDNA, "echo", nil); !cell.HasCode(err, cell.CodeUnavailable) {
		t.Fatalf("a killed node answered: %v", err)
	}
	c.OnKill(func() { order = append(order, 3) }) // runs at once on a dead node
	if len(order) != 3 {
		t.Fatal("OnKill on a killed node did not run")
	}
	// The survivors re-form one tree without it.
	celltest.WaitTree(t, []*celltest.Node{a, b, c}, func(n *celltest.Node) cell.View { return rts[n].View() })
}
