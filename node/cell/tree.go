package cell

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/borgios/borgios/node/peertree"
	"github.com/borgios/borgios/node/wire"
)

// KindTree is the built-in, read-only request every cell answers with the
// node's immediate neighbourhood in the cell's tree (TreeInfo). It is what a
// client that wants to draw the tree asks each node it knows: the answer is
// signed by the node like every receptor answer, so a drawn edge is one the
// node itself claims.
const KindTree = "tree"

// MaxTreeChildren bounds the children a TreeInfo may list. DNA allows at
// most 1000 children per node; anything longer is not a real answer.
const MaxTreeChildren = 1000

// ErrBadTreeInfo: a tree answer does not decode or is inconsistent.
var ErrBadTreeInfo = errors.New("cell: malformed tree answer")

// TreeInfo is one node's view of its place in a cell's tree: who it is,
// its parent, its children, its depth (edges from the root) and the root.
// Keys are hex-encoded Ed25519 public keys; Parent is zero at the root and
// when not placed.
type TreeInfo struct {
	Node     Endpoint   `json:"node"`
	Parent   Endpoint   `json:"parent,omitzero"`
	Children []Endpoint `json:"children"`
	Depth    int        `json:"depth"`
	Root     Endpoint   `json:"root"`
	// Position is the node's 1-based breadth-first position, 0 when not
	// placed; Size is the tree size as the node last heard it.
	Position int    `json:"position"`
	Size     int    `json:"size"`
	Status   string `json:"status"`
}

// treeWire is TreeInfo on the wire.
type treeWire struct {
	Node     Endpoint   `cbor:"1,keyasint"`
	Parent   Endpoint   `cbor:"2,keyasint"`
	Children []Endpoint `cbor:"3,keyasint"`
	Depth    int        `cbor:"4,keyasint"`
	Root     Endpoint   `cbor:"5,keyasint"`
	Position int        `cbor:"6,keyasint"`
	Size     int        `cbor:"7,keyasint"`
	Status   string     `cbor:"8,keyasint"`
}

// Tree returns this node's TreeInfo from the latest view.
func (r *Runtime) Tree() TreeInfo {
	v := r.View()
	ti := TreeInfo{
		Node:     endpoint(r.self),
		Parent:   v.Parent,
		Children: v.Children,
		Root:     v.Root,
		Position: v.Position,
		Size:     v.Size,
		Status:   v.Status,
	}
	if v.Position >= 1 {
		ti.Depth = peertree.Depth(v.Position, r.typ.DNA.MaxChildren)
	}
	return ti
}

func (r *Runtime) answerTree(context.Context, *Request) ([]byte, error) {
	t := r.Tree()
	return wire.Marshal(treeWire{Node: t.Node, Parent: t.Parent, Children: t.Children, Depth: t.Depth,
		Root: t.Root, Position: t.Position, Size: t.Size, Status: t.Status})
}

// QueryTree asks the node at t for its place in the tree of the cell dna
// names, and checks that the answer describes the node asked (the signature
// and binding to the request are checked by Call).
func QueryTree(ctx context.Context, c *Client, t Target, dna DNA) (TreeInfo, error) {
	raw, err := c.Call(ctx, t, dna, KindTree, nil)
	if err != nil {
		return TreeInfo{}, err
	}
	ti, err := DecodeTreeInfo(raw)
	if err != nil {
		return TreeInfo{}, Errorf(CodeBadAnswer, "tree answer from %s: %v", t.Addr, err)
	}
	if ti.Node.Key != hex.EncodeToString(t.Key) {
		return TreeInfo{}, Errorf(CodeBadAnswer, "tree answer from %s describes node %.16s", t.Addr, ti.Node.Key)
	}
	return ti, nil
}

// DecodeTreeInfo decodes a tree answer from the network and checks its
// shape: every key is a hex Ed25519 key (or empty where allowed), the
// depth and position are plausible, and the children are few enough.
func DecodeTreeInfo(b []byte) (TreeInfo, error) {
	var w treeWire
	if err := wire.Unmarshal(b, &w); err != nil {
		return TreeInfo{}, fmt.Errorf("%w: %w", ErrBadTreeInfo, err)
	}
	if err := checkKey(w.Node.Key, false); err != nil {
		return TreeInfo{}, fmt.Errorf("%w: node: %w", ErrBadTreeInfo, err)
	}
	if err := checkKey(w.Parent.Key, true); err != nil {
		return TreeInfo{}, fmt.Errorf("%w: parent: %w", ErrBadTreeInfo, err)
	}
	if err := checkKey(w.Root.Key, true); err != nil {
		return TreeInfo{}, fmt.Errorf("%w: root: %w", ErrBadTreeInfo, err)
	}
	if len(w.Children) > MaxTreeChildren {
		return TreeInfo{}, fmt.Errorf("%w: %d children", ErrBadTreeInfo, len(w.Children))
	}
	for i, c := range w.Children {
		if err := checkKey(c.Key, false); err != nil {
			return TreeInfo{}, fmt.Errorf("%w: child %d: %w", ErrBadTreeInfo, i, err)
		}
	}
	// A tree of any size the network could hold is at most a few dozen
	// levels deep; positions are positive or zero when not placed.
	if w.Depth < 0 || w.Depth > 64 || w.Position < 0 || w.Size < 0 {
		return TreeInfo{}, fmt.Errorf("%w: depth %d, position %d, size %d", ErrBadTreeInfo, w.Depth, w.Position, w.Size)
	}
	return TreeInfo{Node: w.Node, Parent: w.Parent, Children: w.Children, Depth: w.Depth, Root: w.Root,
		Position: w.Position, Size: w.Size, Status: w.Status}, nil
}

func checkKey(k string, emptyOK bool) error {
	if k == "" && emptyOK {
		return nil
	}
	b, err := hex.DecodeString(k)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return fmt.Errorf("key %.16q is not a hex Ed25519 key", k)
	}
	return nil
}
