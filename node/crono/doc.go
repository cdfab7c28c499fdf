// Package crono is BorgIOS network time: every node's estimate of the
// root's clock, followed down the broadcast tree one hop at a time. It is a
// pure state machine in the style of etcd's raft: local monotonic time comes
// in as an argument, requests and responses go out as values, the runtime
// does the I/O. Every envelope timestamp and freshness check uses Clock.Now.
//
// # Algorithm
//
// A child asks its parent for the time with the four NTP timestamps: t1 and
// t4 on the child's local monotonic clock, t2 and t3 stamped by the parent
// with its own NETWORK time (not its raw clock), so the whole tree follows
// the root and errors add up per hop. From each exchange:
//
//	delay  = (t4 − t1) − (t3 − t2)
//	offset = (t2 + t3)/2 − (t1 + t4)/2     parent's network time − our local clock
//
// The clock filter keeps the last FilterSize (8) samples per edge, as NTP
// does. A sample whose delay exceeds MaxDelayRatio (2) times the filter's
// minimum plus 1 ms is rejected outright (a reply held up 500 ms behind a
// bulk transfer). Accepted samples go into a two-state Kalman filter over the
// raw offset (phase and frequency). Each sample counts with a noise of
// 200 µs plus half its delay above the minimum, because queueing can shift a
// sample's offset by at most half its extra delay. So the minimum-delay
// sample dominates, as in NTP, and several good samples still average.
// Process noise makes old samples count for less, so a parent that is still
// settling is followed within seconds rather than averaged over minutes, and
// a sample more than 5σ off fades the memory instead of being dragged along.
// Each parent advertises how fast its own rate is changing (Response.Wander).
// Its children widen their frequency model by that much, which is what lets a
// tree four or seven hops deep settle in tens of seconds without each level
// amplifying the jitter of the one above. The poll interval runs from
// BurstInterval (1 s) while the edge starts up or the frequency is uncertain
// to PollInterval (16 s) once frequency errors cannot move the time by more
// than 100 µs between polls.
//
// Network time is the local clock plus a phase and a frequency (nodes drift
// 100 ppm; the estimated frequency is clamped to ±1000 ppm). The output is a
// piecewise-linear curve that moves toward the estimate.
//
// # Continuity and its bounds
//
//   - Before the first sync Now is Config.Epoch + local: the OS wall clock at
//     start, a guess. The first sync (MinSamples samples from a synced parent)
//     is one step to the estimate, in either direction. It is the only place
//     network time can go back. Unsync is the runtime's way to ask for
//     another such step.
//   - After that Now never goes backwards. Corrections are slewed at
//     MaxSlewPPM (500 ppm: 1 ms takes 2 s, 1 s takes 33 min). A backward
//     correction makes the clock run up to 0.05 % slow, never step back.
//   - A forward correction too large to slew within one PollInterval
//     (500 ppm × 16 s = 8 ms) jumps by the excess, at most MaxStep (128 ms)
//     per accepted sample, and the rest is slewed. Each jump increments
//     Steps, which children see in Response.Steps: they drop the samples they
//     took before and re-sync. In the simulation no node ever jumps.
//   - When the root dies, the runtime calls SetRoot on its successor. That
//     node keeps its current output and frequency, so it continues the
//     old root's time, and its subtree sees nothing. The old root's other
//     children get SetParent: a fresh filter on the new edge, the same
//     frequency, and a correction of at most a few ms, slewed.
//   - A fixed asymmetry between the two one-way delays is invisible to any
//     four-timestamp method: it causes an error of half the difference per
//     hop. EstimatedError reports the worst case: the parent's error, half
//     the minimum round trip, twice the filter's σ, what is still to be
//     slewed, and 15 ppm of the time since the last sample (NTP's PHI).
//
// # Measured
//
// The simulation in sim_test.go has 781 nodes, fan-out 5 and 4 hops. Clocks
// start ±1 h off and drift ±100 ppm. Links have 1–20 ms one-way delay,
// ±0.5 ms fixed asymmetry per link, exponential jitter (mean 1 ms), 1 % of
// replies held back 50–500 ms and 1 % loss. The root dies at 4 min. Over 12
// seeds, every node is within 5 ms of the root after 17–18 s. The worst error
// afterwards is 2.5–3.3 ms, at any 250 ms sample of any node and across the
// root change; the mean is 0.4–0.6 ms. No node's time ever goes back or
// jumps. Polling costs about 45 requests per node in the first minute and
// falls to about 5 per minute by the eighth (BenchmarkSimTreeSync,
// BenchmarkSimVariants).
//
// # Why the OS clock is never touched
//
// crono only computes. Stepping or slewing the machine's clock needs root,
// fights NTP daemons, and would move every other program's time on a
// borrowed computer the conduit runs on. It also cannot be simulated or
// undone. Network time is a private overlay: the node keeps its own
// monotonic clock as ground truth (SystemClock, immune to wall-clock
// changes) and converts on the way out.
package crono
