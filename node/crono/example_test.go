package crono_test

import (
	"fmt"
	"time"

	"github.com/borgios/borgios/node/crono"
)

// stepClock is a LocalClock the example advances by hand; a node uses
// crono.NewSystemClock().
type stepClock struct{ now int64 }

func (c *stepClock) Monotonic() int64 { return c.now }

// Example shows the runtime's side: it owns the clocks, carries requests and
// responses (here directly; in a node, signed envelopes over QUIC), fires
// the poll timer, and stamps envelopes with Now.
func Example() {
	const unix2025 = int64(1_735_689_600) * int64(time.Second)
	rootLocal := &stepClock{}
	childLocal := crono.Skewed(rootLocal, int64(5*time.Hour), 80) // another machine's uptime, 80 ppm fast

	root, _ := crono.New(crono.Config{Epoch: unix2025})
	child, _ := crono.New(crono.Config{Epoch: unix2025 + int64(42*time.Minute)}) // its OS clock is 42 min off

	root.SetRoot(rootLocal.Monotonic())
	child.SetParent("root-node-id", childLocal.Monotonic())

	const oneWay = int64(3 * time.Millisecond)
	for range 30 {
		// Sleep until the child's next poll (a timer in the runtime).
		at, _ := child.NextPoll(childLocal.Monotonic())
		for childLocal.Monotonic() < at {
			rootLocal.now += int64(time.Millisecond)
		}
		req := child.MakeRequest(childLocal.Monotonic())
		rootLocal.now += oneWay
		recv := rootLocal.Monotonic()
		resp := root.Answer(req, recv, rootLocal.Monotonic())
		rootLocal.now += oneWay
		if _, err := child.OnResponse(resp, childLocal.Monotonic()); err != nil {
			fmt.Println("sync:", err)
		}
	}

	// Envelope timestamps: network time in ms.
	diff := child.Now(childLocal.Monotonic()) - root.Now(rootLocal.Monotonic())
	st := child.Status(childLocal.Monotonic())
	fmt.Println("synced:", st.Synced, "stratum:", st.Stratum)
	fmt.Println("within 100µs of the root:", diff > -int64(100*time.Microsecond) && diff < int64(100*time.Microsecond))
	// Output:
	// synced: true stratum: 1
	// within 100µs of the root: true
}
