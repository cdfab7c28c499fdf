package cell

import (
	"errors"
	"fmt"
	"regexp"
)

// DNA is a cell type's fixed description. Two nodes are in the same cell
// tree exactly when their DNA names and versions match.
type DNA struct {
	// Name is the cell type, also the Cell field of its envelopes.
	Name string
	// MaxChildren is the tree's fan-out M.
	MaxChildren int
	// Protocol is the receptor's transport protocol ID.
	Protocol string
	// Version changes when the cell's messages change incompatibly.
	Version int
}

var cellName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,23}$`)

// Validate reports whether d can be run.
func (d DNA) Validate() error {
	if !cellName.MatchString(d.Name) {
		return fmt.Errorf("cell name %q: want lower-case letters, digits and '-', at most 24", d.Name)
	}
	if d.MaxChildren < 2 || d.MaxChildren > 1000 {
		return fmt.Errorf("cell %s: max children %d not in 2..1000", d.Name, d.MaxChildren)
	}
	if d.Protocol == "" {
		return errors.New("cell " + d.Name + ": empty protocol")
	}
	if d.Version < 1 {
		return fmt.Errorf("cell %s: version %d, want >= 1", d.Name, d.Version)
	}
	return nil
}

// treeProtocol is the transport protocol of the cell's tree messages; the
// version is in it so incompatible cores never exchange messages.
func (d DNA) treeProtocol() string { return fmt.Sprintf("%s/tree/%d", d.Name, d.Version) }
