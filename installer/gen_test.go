package installer

import (
	"os"
	"testing"
)

// TestMain with -update rewrites borgios-node.service from the template.
func TestMain(m *testing.M) {
	if os.Getenv("INSTALLER_UPDATE_UNIT") == "1" {
		b, err := UnitConfig{}.Render()
		if err != nil {
			panic(err)
		}
		if err := os.WriteFile("borgios-node.service", b, 0o644); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}
