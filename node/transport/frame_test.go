package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
)

func TestHeaderRoundTrip(t *testing.T) {
	for _, k := range []kind{kindRequest, kindMessage, kindStream} {
		for _, proto := range []string{"a", "crono/1", "shard.get-v2_x", strings.Repeat("p", MaxProtocolLen)} {
			b := appendHeader(nil, k, proto)
			h, err := readHeader(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("%v %q: %v", k, proto, err)
			}
			if h.kind != k || h.proto != proto {
				t.Fatalf("got %+v, want %v %q", h, k, proto)
			}
		}
	}
}

func TestHeaderRejects(t *testing.T) {
	cases := map[string][]byte{
		"version":     {2, 1, 1, 'a'},
		"kind zero":   {1, 0, 1, 'a'},
		"kind high":   {1, 9, 1, 'a'},
		"empty name":  {1, 1, 0},
		"long name":   append([]byte{1, 1, MaxProtocolLen + 1}, bytes.Repeat([]byte{'a'}, MaxProtocolLen+1)...),
		"bad byte":    {1, 1, 2, 'a', ' '},
		"nul byte":    {1, 1, 1, 0},
		"short fixed": {1, 1},
		"short name":  {1, 1, 5, 'a', 'b'},
	}
	for name, b := range cases {
		_, err := readHeader(bytes.NewReader(b))
		if !errors.Is(err, ErrBadHeader) {
			t.Errorf("%s: got %v, want ErrBadHeader", name, err)
		}
	}
	if h, err := readHeader(bytes.NewReader([]byte{1, 4, 0})); err != nil || h.kind != kindGoAway {
		t.Errorf("goaway: %+v %v", h, err)
	}
	if _, err := readHeader(bytes.NewReader([]byte{1, 4, 1, 'a'})); !errors.Is(err, ErrBadHeader) {
		t.Errorf("goaway with a name: %v", err)
	}
	if _, err := readHeader(bytes.NewReader(nil)); err != io.EOF {
		t.Errorf("empty stream: got %v, want io.EOF", err)
	}
}

func TestValidProtocol(t *testing.T) {
	for _, bad := range []string{"", "a b", "é", "x\x00", strings.Repeat("a", MaxProtocolLen+1)} {
		if err := validProtocol(bad); !errors.Is(err, ErrBadProtocol) {
			t.Errorf("%q: got %v", bad, err)
		}
	}
}

func TestFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	msgs := [][]byte{{}, []byte("x"), bytes.Repeat([]byte{7}, initialFrameChunk+1), bytes.Repeat([]byte{9}, 5*initialFrameChunk+3)}
	for _, m := range msgs {
		if err := writeFrame(&buf, nil, m); err != nil {
			t.Fatal(err)
		}
	}
	for i, m := range msgs {
		got, err := readFrame(&buf, 1<<20)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !bytes.Equal(got, m) {
			t.Fatalf("frame %d: got %d bytes, want %d", i, len(got), len(m))
		}
	}
	if _, err := readFrame(&buf, 1<<20); err != io.EOF {
		t.Fatalf("after last frame: got %v, want io.EOF", err)
	}
}

func TestReadFrameIntoReusesBuffer(t *testing.T) {
	buf := make([]byte, 0, 100)
	got, err := readFrameInto(bytes.NewReader(appendFrame(nil, []byte("hello"))), 1000, buf)
	if err != nil || string(got) != "hello" || &got[0] != &buf[:1][0] {
		t.Fatalf("small frame: %q %v, reused=%v", got, err, err == nil && &got[0] == &buf[:1][0])
	}
	big := bytes.Repeat([]byte{3}, 300)
	got, err = readFrameInto(bytes.NewReader(appendFrame(nil, big)), 1000, buf)
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("frame above cap: %d bytes %v", len(got), err)
	}
	if _, err := readFrameInto(bytes.NewReader(appendFrame(nil, big)), 299, make([]byte, 0, 1000)); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("limit applies even with a big buffer: %v", err)
	}
}

func TestFrameErrors(t *testing.T) {
	_, err := readFrame(bytes.NewReader([]byte{0, 0, 1, 0, 1, 2}), 1<<20)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated payload: got %v", err)
	}
	_, err = readFrame(bytes.NewReader([]byte{0, 0}), 1<<20)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated length: got %v", err)
	}
	_, err = readFrame(bytes.NewReader([]byte{0, 0, 0, 11}), 10)
	var tl *FrameTooLargeError
	if !errors.As(err, &tl) || tl.Size != 11 || tl.Limit != 10 || !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("over limit: got %v", err)
	}
}

// A peer announcing a huge frame must cost us nothing, and one announcing a
// frame within the limit but sending little must cost about what it sent.
func TestReadFrameAllocationFollowsData(t *testing.T) {
	measure := func(b []byte, limit int) (uint64, error) {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := readFrame(bytes.NewReader(b), limit)
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc, err
	}

	huge := binary.BigEndian.AppendUint32(nil, 0xFFFFFFFF)
	alloc, err := measure(huge, DefaultMaxFrame)
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("4 GiB announcement: got %v", err)
	}
	if alloc > 64<<10 {
		t.Errorf("4 GiB announcement allocated %d bytes", alloc)
	}

	liar := append(binary.BigEndian.AppendUint32(nil, DefaultMaxFrame), bytes.Repeat([]byte{1}, 100)...)
	alloc, err = measure(liar, DefaultMaxFrame)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short frame: got %v", err)
	}
	if alloc > 1<<20 {
		t.Errorf("4 MiB announcement with 100 bytes sent allocated %d bytes", alloc)
	}
}

func FuzzReadHeader(f *testing.F) {
	f.Add(appendHeader(nil, kindRequest, "crono/1"))
	f.Add(appendHeader(nil, kindStream, strings.Repeat("z", MaxProtocolLen)))
	f.Add([]byte{1, 2, 0})
	f.Add([]byte{1, 3, 65, 'a'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{1, 4, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := readHeader(bytes.NewReader(data))
		if err != nil {
			if err != io.EOF && !errors.Is(err, ErrBadHeader) {
				t.Fatalf("error not ErrBadHeader: %v", err)
			}
			return
		}
		if h.kind != kindGoAway && validProtocol(h.proto) != nil {
			t.Fatalf("accepted invalid protocol %q", h.proto)
		}
		enc := appendHeader(nil, h.kind, h.proto)
		if !bytes.HasPrefix(data, enc) {
			t.Fatalf("decoded %+v does not re-encode to the input prefix", h)
		}
	})
}

func FuzzReadFrame(f *testing.F) {
	f.Add(appendFrame(nil, []byte("hello")), uint16(16))
	f.Add(appendFrame(nil, nil), uint16(0))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3}, uint16(1000))
	f.Add([]byte{0, 0, 0x10, 0, 1}, uint16(65535))
	f.Add(appendFrame(appendFrame(nil, []byte("a")), []byte("bc")), uint16(2))
	f.Fuzz(func(t *testing.T, data []byte, limit uint16) {
		r := bytes.NewReader(data)
		for {
			before := r.Len()
			b, err := readFrame(r, int(limit))
			if err != nil {
				if err != io.EOF && !errors.Is(err, ErrFrameTooLarge) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("unexpected error kind: %v", err)
				}
				return
			}
			if len(b) > int(limit) {
				t.Fatalf("frame of %d bytes passed limit %d", len(b), limit)
			}
			if consumed := before - r.Len(); consumed != frameHeaderLen+len(b) {
				t.Fatalf("consumed %d bytes for a %d byte frame", consumed, len(b))
			}
		}
	})
}

func TestReadResponse(t *testing.T) {
	ok, p, err := readResponse(bytes.NewReader(appendFrame([]byte{statusOK}, []byte("yes"))), 100)
	if !ok || string(p) != "yes" || err != nil {
		t.Errorf("ok response: %v %q %v", ok, p, err)
	}
	ok, p, err = readResponse(bytes.NewReader(appendFrame([]byte{statusError}, []byte("no"))), 100)
	if ok || string(p) != "no" || err != nil {
		t.Errorf("error response: %v %q %v", ok, p, err)
	}
	for name, b := range map[string][]byte{
		"empty":          nil,
		"status only":    {statusOK},
		"unknown status": appendFrame([]byte{7}, nil),
		"trailing bytes": append(appendFrame([]byte{statusOK}, nil), 1),
	} {
		if _, _, err := readResponse(bytes.NewReader(b), 100); !errors.Is(err, ErrProtocolViolation) {
			t.Errorf("%s: got %v, want ErrProtocolViolation", name, err)
		}
	}
}

func FuzzReadResponse(f *testing.F) {
	f.Add(appendFrame([]byte{statusOK}, []byte("answer")))
	f.Add(appendFrame([]byte{statusError}, []byte("no such shard")))
	f.Add([]byte{statusOK, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{9, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 1 << 10
		ok, p, err := readResponse(bytes.NewReader(data), limit)
		if err != nil {
			if ok || p != nil {
				t.Fatal("error with a result")
			}
			return
		}
		if len(p) > limit {
			t.Fatalf("payload of %d bytes passed the limit", len(p))
		}
		status := byte(statusError)
		if ok {
			status = statusOK
		}
		if !bytes.Equal(appendFrame([]byte{status}, p), data) {
			t.Fatal("accepted response does not re-encode to the input")
		}
	})
}
