package peertree

import (
	"encoding/binary"
	"encoding/json"
	"testing"
	"time"
)

func benchMember(i int) Member {
	var id NodeID
	binary.BigEndian.PutUint64(id[:], uint64(i)+1)
	return Member{ID: id, Addr: "203.0.113.7:7446"}
}

// BenchmarkCodecUpdate encodes and decodes a full Update (10 children) with
// the deterministic CBOR codec and, in the same run, with encoding/json as
// the baseline (the reference system's wire format), reporting both and the
// ratios.
func BenchmarkCodecUpdate(b *testing.B) {
	u := &Update{Epoch: 5<<32 | 99, TreeID: NodeID{1}, Pos: 123, Size: 100000, Root: benchMember(0),
		Parent: benchMember(12), Successors: []Member{benchMember(1), benchMember(2)}}
	for i := range 10 {
		u.Children = append(u.Children, benchMember(1000+i))
	}
	cb, _ := EncodeMessage(u)
	jb, _ := json.Marshal(u)
	var cborNs, jsonNs time.Duration
	b.SetBytes(int64(len(cb)))
	for b.Loop() {
		t0 := time.Now()
		enc, err := EncodeMessage(u)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := DecodeMessage(enc); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		enc, _ = json.Marshal(u)
		var back Update
		if err := json.Unmarshal(enc, &back); err != nil {
			b.Fatal(err)
		}
		cborNs += t1.Sub(t0)
		jsonNs += time.Since(t1)
	}
	n := float64(b.N)
	b.ReportMetric(float64(len(cb)), "cbor-bytes")
	b.ReportMetric(float64(len(jb)), "json-bytes")
	b.ReportMetric(float64(cborNs.Nanoseconds())/n, "cbor-ns/roundtrip")
	b.ReportMetric(float64(jsonNs.Nanoseconds())/n, "json-ns/roundtrip")
	b.ReportMetric(float64(jsonNs)/float64(cborNs), "json/cbor-time")
	b.ReportMetric(float64(len(jb))/float64(len(cb)), "json/cbor-size")
}

// BenchmarkRootCommit10k measures the root's CPU per joiner when it places
// a storm of 10,000 joiners in one commit.
func BenchmarkRootCommit10k(b *testing.B) {
	const storm = 10_000
	for b.Loop() {
		b.StopTimer()
		root := New(Config{Self: benchMember(0)})
		root.Start(0, nil)
		b.StartTimer()
		for i := 1; i <= storm; i++ {
			m := benchMember(i)
			root.Step(time.Millisecond, m.ID, &JoinRequest{Addr: m.Addr})
		}
		rd := root.Tick(time.Second)
		if root.Size() != storm+1 || len(rd.Messages) < storm {
			b.Fatalf("size %d, %d messages", root.Size(), len(rd.Messages))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*storm), "ns/join")
}

// BenchmarkStepHeartbeat measures one heartbeat handled by a parent.
func BenchmarkStepHeartbeat(b *testing.B) {
	root := New(Config{Self: benchMember(0)})
	root.Start(0, nil)
	for i := 1; i <= 10; i++ {
		m := benchMember(i)
		root.Step(time.Millisecond, m.ID, &JoinRequest{Addr: m.Addr})
	}
	root.Tick(time.Second)
	child := benchMember(5)
	hb := &HeartbeatUp{Epoch: root.Epoch(), Pos: 6}
	now := time.Second
	for b.Loop() {
		now += time.Microsecond
		root.Step(now, child.ID, hb)
	}
	b.ReportMetric(1e9/(float64(b.Elapsed().Nanoseconds())/float64(b.N)), "msgs/s")
}
