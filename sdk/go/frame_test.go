package agtp

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"testing/iotest"
)

func TestFrameRoundTripAcrossSplitReads(t *testing.T) {
	var stream []byte
	for _, nonce := range []string{"p-1", "p-2"} {
		f, err := encodeFrame(object{"type": "ping", "nonce": nonce}, MaxFrameBytes)
		if err != nil {
			t.Fatal(err)
		}
		stream = append(stream, f...)
	}
	// The ping of PROTOCOL.md §3: 29 bytes of payload (encoding/json sorts the keys).
	if want := "\x00\x00\x00\x1d{\"nonce\":\"p-1\",\"type\":\"ping\"}"; string(stream[:33]) != want {
		t.Fatalf("encoded %q", stream[:33])
	}
	r := iotest.OneByteReader(bytes.NewReader(stream))
	for _, nonce := range []string{"p-1", "p-2"} {
		f, err := readFrame(r, MaxFrameBytes)
		if err != nil || f.Type != "ping" || f.Nonce != nonce {
			t.Fatalf("%+v %v", f, err)
		}
	}
	if _, err := readFrame(r, MaxFrameBytes); err != io.EOF {
		t.Fatalf("after the last frame: %v", err)
	}
}

func TestMalformedFrames(t *testing.T) {
	cases := map[string]struct {
		stream []byte
		code   string
	}{
		"zero length": {[]byte{0, 0, 0, 0}, "malformed_frame"},
		"too large":   {[]byte{0, 0, 4, 1}, "frame_too_large"},
		"not JSON":    {append([]byte{0, 0, 0, 2}, "[]"...), "malformed_frame"},
		"no type":     {append([]byte{0, 0, 0, 2}, "{}"...), "malformed_frame"},
	}
	for name, c := range cases {
		_, err := readFrame(bytes.NewReader(c.stream), 1024)
		var perr *protocolError
		if !errors.As(err, &perr) || perr.code != c.code {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := encodeFrame(object{"type": "pong", "nonce": string(make([]byte, 2000))}, 1024); err == nil {
		t.Error("an oversized frame was encoded")
	}
}

// Frames queued while a write is in progress leave together in the next one.
func TestWriterCoalesces(t *testing.T) {
	ours, theirs := net.Pipe()
	defer ours.Close()
	w := &writer{sock: ours}
	done := make(chan struct{})
	go func() {
		w.write([]byte("first"))
		close(done)
	}()
	buf := make([]byte, 64)
	n, _ := theirs.Read(buf) // the first write is now complete; the writer may be flushing
	if string(buf[:n]) != "first" {
		t.Fatalf("read %q", buf[:n])
	}
	<-done
	w.mu.Lock()
	w.flushing = true // as if another goroutine were in the middle of a write
	w.mu.Unlock()
	w.write([]byte("second"))
	w.write([]byte("third"))
	w.mu.Lock()
	w.flushing = false
	pending := string(w.pending)
	w.mu.Unlock()
	if pending != "secondthird" {
		t.Fatalf("queued %q", pending)
	}
}

func TestRouterPrefersLiterals(t *testing.T) {
	endpoints := []*boundEndpoint{
		{Endpoint: Endpoint{Method: "QUERY", Path: "/rooms/{room_id}"}, template: parseTemplate("/rooms/{room_id}")},
		{Endpoint: Endpoint{Method: "QUERY", Path: "/rooms/availability"}, template: parseTemplate("/rooms/availability")},
	}
	r := newRouter(endpoints)
	if e, _ := r.route("QUERY", "/rooms/availability?guests=2"); e.Path != "/rooms/availability" {
		t.Errorf("availability went to %s", e.Path)
	}
	e, params := r.route("QUERY", "/rooms/a%2Fb")
	if e.Path != "/rooms/{room_id}" || params["room_id"] != "a/b" {
		t.Errorf("%v %v", e, params)
	}
	if e, _ := r.route("BOOK", "/rooms/101"); e != nil {
		t.Errorf("BOOK matched %s", e.Path)
	}
}
