package web

import (
	"fmt"
	"strings"

	"rsc.io/qr"
)

// QR is a QR code ready to draw as one SVG path: no image file, no canvas,
// no inline style, so it passes the conduit's strict CSP and scales crisply
// to any screen.
type QR struct {
	// ViewBox is the SVG viewBox, including a four-module quiet zone.
	ViewBox string
	// Path draws every dark module as a unit square.
	Path string
	// Text is what the code encodes.
	Text string
	// Pixels is a display size of a whole number of pixels per module,
	// which keeps the modules crisp and equal on screen.
	Pixels int
}

// pixelsPerModule makes a version-4 address code about 200 px wide.
const pixelsPerModule = 5

// quietZone is the light border the QR standard asks for, in modules.
const quietZone = 4

// NewQR encodes text. Addresses should be passed in upper case: bech32m
// allows it, and QR's alphanumeric mode then packs the 63 characters into
// a smaller, easier-to-scan code than byte mode would.
func NewQR(text string) (QR, error) {
	// Level M survives about 15% damage: enough for a phone camera pointed
	// at a laptop screen while keeping the code small.
	c, err := qr.Encode(text, qr.M)
	if err != nil {
		return QR{}, fmt.Errorf("web: encoding QR code: %w", err)
	}
	var b strings.Builder
	for y := 0; y < c.Size; y++ {
		for x := 0; x < c.Size; x++ {
			if c.Black(x, y) {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x+quietZone, y+quietZone)
			}
		}
	}
	n := c.Size + 2*quietZone
	return QR{ViewBox: fmt.Sprintf("0 0 %d %d", n, n), Path: b.String(), Text: text, Pixels: n * pixelsPerModule}, nil
}
