// An agtpd runtime in one file of standard-library Go (1.19 or later).
//
// agtpd checks every AGTP call (agent, scopes, input schema) and then forwards it over a
// Unix socket, "the gateway", to runtime processes such as this one. This file speaks that
// protocol (runtime-protocol/PROTOCOL.md, version 1.0, JSON encoding); handlers.go beside it
// is the service. Read it top to bottom:
//
//  1. settings     where the socket is, which pool to join, how many connections to open;
//  2. framing      a 4-byte big-endian length, then one JSON object;
//  3. handlers     the interface a handler sees: a Call in, a body or *EndpointError out;
//  4. routing      registered endpoints bound to handler functions;
//  5. connection   hello -> welcome -> register -> register_ack, then requests one at a time;
//  6. runtime      N connections, reconnection with backoff, SIGTERM.
//
// Build and run it (agtpd must be listening on the socket):
//
//	go build -o booking . && AGTP_GATEWAY_SOCKET=/run/agtpd/gateway.sock ./booking
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	protocolVersion = "1.0"
	// The daemon's default frame limit (PROTOCOL.md §2); checked before a payload is read.
	maxFrameBytes = 16 * 1024 * 1024
	// How long the daemon may take to answer `hello` and to send its registration.
	handshakeTimeout = 30 * time.Second
	exitUsage        = 64
)

// Reconnection delays after an unexpected close (PROTOCOL.md §10); the last one repeats.
var backoff = []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second}

// --- 1. settings ---------------------------------------------------------------------------

type settings struct {
	socketPath  string
	pool        string
	connections int
}

func readSettings(args []string, getenv func(string) string) (settings, error) {
	s := settings{socketPath: getenv("AGTP_GATEWAY_SOCKET"), pool: getenv("AGTP_POOL")}
	if s.pool == "" {
		s.pool = "default"
	}
	for len(args) > 0 {
		if args[0] == "--gateway-socket" && len(args) > 1 {
			s.socketPath, args = args[1], args[2:]
			continue
		}
		return s, fmt.Errorf("unknown argument `%s`", args[0])
	}
	if s.socketPath == "" {
		return s, errors.New("set AGTP_GATEWAY_SOCKET or pass --gateway-socket PATH")
	}
	connections := getenv("AGTP_CONNECTIONS")
	if connections == "" {
		connections = "2"
	}
	n, err := strconv.Atoi(connections)
	if err != nil || n < 1 {
		return s, fmt.Errorf("AGTP_CONNECTIONS must be a positive integer, not `%s`", connections)
	}
	s.connections = n
	return s, nil
}

// --- 2. framing ----------------------------------------------------------------------------

// protocolError: the daemon sent something this runtime cannot accept. code is the `error`
// frame's code (PROTOCOL.md §11) this runtime answers with before closing.
type protocolError struct{ code, message string }

func (e *protocolError) Error() string { return e.message }

// frame is every frame the daemon sends, as one struct: each type uses some of the fields,
// and fields this runtime does not know are ignored.
type frame struct {
	Type string `json:"type"`
	// welcome
	Daemon struct {
		Version string `json:"version"`
	} `json:"daemon"`
	// register, register_resume
	ManifestHash string         `json:"manifest_hash"`
	Endpoints    []endpointSpec `json:"endpoints"`
	// request, error
	RequestID  *string         `json:"request_id"`
	Envelope   json.RawMessage `json:"envelope"`
	Trust      json.RawMessage `json:"trust"`
	DeadlineMs *int64          `json:"deadline_ms"`
	// ping, pong
	Nonce string `json:"nonce"`
	// error, goodbye
	Code    string `json:"code"`
	Message string `json:"message"`
	Reason  string `json:"reason"`
}

type endpointSpec struct {
	Method           string `json:"method"`
	Path             string `json:"path"`
	HandlerReference string `json:"handler_reference"`
}

type object = map[string]interface{}

func encodeFrame(f object) ([]byte, error) {
	payload, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 4, 4+len(payload))
	binary.BigEndian.PutUint32(out, uint32(len(payload)))
	return append(out, payload...), nil
}

// readFrame returns the next frame; io.EOF when the daemon closed between frames.
func readFrame(r io.Reader) (*frame, error) {
	var header [4]byte
	if _, err := io.ReadFull(r, header[:]); err != nil {
		return nil, err
	}
	length := binary.BigEndian.Uint32(header[:])
	if length == 0 {
		return nil, &protocolError{"malformed_frame", "zero-length frame"}
	}
	if length > maxFrameBytes {
		return nil, &protocolError{"frame_too_large", fmt.Sprintf("%d-byte frame exceeds %d", length, maxFrameBytes)}
	}
	payload := make([]byte, length)
	if _, err := io.ReadFull(r, payload); err != nil {
		return nil, fmt.Errorf("connection closed in the middle of a frame: %w", err)
	}
	var f frame
	if err := json.Unmarshal(payload, &f); err != nil || f.Type == "" {
		return nil, &protocolError{"malformed_frame", fmt.Sprintf("payload is not a frame: %v", err)}
	}
	return &f, nil
}

// --- 3. the handler interface --------------------------------------------------------------

// Handler serves one endpoint. It returns the response body (anything encoding/json turns
// into an object with every `[[endpoint.output]]` field), or an *EndpointError for a declared
// error. Any other error, or a panic, becomes `handler_exception`. ctx ends at the call's
// deadline, or earlier if the daemon gives the call up.
type Handler func(ctx context.Context, call *Call) (interface{}, error)

// EndpointError is one of the endpoint's declared errors; the agent gets 422 with Code.
type EndpointError struct {
	Code    string
	Message string
	Details object
}

func (e *EndpointError) Error() string { return e.Code + ": " + e.Message }

// Call is everything about a request: its input and who makes it.
type Call struct {
	RequestID string
	Method    string
	Path      string
	AgentID   string
	Headers   map[string]string
	Input     json.RawMessage
	// Envelope is the whole request envelope (PROTOCOL.md §8.1), for the fields above omit.
	Envelope json.RawMessage
}

// Decode unmarshals the input, already valid against the endpoint's input schema, into v.
func (c *Call) Decode(v interface{}) error {
	if len(c.Input) == 0 {
		return json.Unmarshal([]byte("{}"), v)
	}
	return json.Unmarshal(c.Input, v)
}

// --- 4. routing ----------------------------------------------------------------------------

// endpoint is one registered endpoint, bound to the function that serves it.
type endpoint struct {
	key      string
	method   string
	segments []string
	handler  Handler
}

func (e *endpoint) matches(method, path string) bool {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if method != e.method || len(parts) != len(e.segments) {
		return false
	}
	for i, s := range e.segments {
		if !strings.HasPrefix(s, "{") && s != parts[i] {
			return false
		}
	}
	return true
}

// beats: a literal segment wins over a `{param}` at the same position, so
// `/rooms/availability` wins over `/rooms/{room_id}` for the same method.
func (e *endpoint) beats(other *endpoint) bool {
	for i := range e.segments {
		mine, theirs := !strings.HasPrefix(e.segments[i], "{"), !strings.HasPrefix(other.segments[i], "{")
		if mine != theirs {
			return mine
		}
	}
	return false
}

// bind binds each endpoint to handlers[handler_reference]. A failure is a
// `register_ack.errors` entry (PROTOCOL.md §7.2).
func bind(specs []endpointSpec, handlers map[string]Handler) ([]*endpoint, []object) {
	var endpoints []*endpoint
	var failures []object
	for _, spec := range specs {
		key := spec.Method + " " + spec.Path
		handler, ok := handlers[spec.HandlerReference]
		if !ok {
			failures = append(failures, object{
				"endpoint": key,
				"reason":   "handler_not_found",
				"detail":   fmt.Sprintf("no handler named `%s` in this runtime", spec.HandlerReference),
			})
			continue
		}
		segments := strings.Split(strings.Trim(spec.Path, "/"), "/")
		endpoints = append(endpoints, &endpoint{key, spec.Method, segments, handler})
	}
	return endpoints, failures
}

func route(endpoints []*endpoint, method, path string) *endpoint {
	var best *endpoint
	for _, e := range endpoints {
		if e.matches(method, path) && (best == nil || e.beats(best)) {
			best = e
		}
	}
	return best
}

// --- 5. one connection ---------------------------------------------------------------------

// fatalError: an operator has to fix something (refused registration, unsupported version);
// the runtime exits non-zero instead of reconnecting.
type fatalError struct{ message string }

func (e *fatalError) Error() string { return e.message }

// connection is one socket to the daemon. Its goroutine reads frames; each request runs on
// a goroutine of its own, so a `ping` is answered even while a handler is busy.
type connection struct {
	rt   *runtime
	sock net.Conn

	mu         sync.Mutex // guards the fields below and every write
	serving    bool
	draining   bool
	closed     bool
	registered bool
	inFlight   string // request_id of the request being handled, "" when idle
	cancel     context.CancelFunc
	endpoints  []*endpoint
}

func (c *connection) send(f object) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sendLocked(f)
}

func (c *connection) sendLocked(f object) error {
	if c.closed {
		return net.ErrClosed
	}
	bytes, err := encodeFrame(f)
	if err != nil {
		return err
	}
	_, err = c.sock.Write(bytes)
	return err
}

func (c *connection) closeLocked() {
	if !c.closed {
		c.closed = true
		c.sock.Close() // wakes the reading goroutine
	}
}

// run: handshake, registration, then serving until the connection ends. Only a
// *fatalError is returned.
func (c *connection) run() error {
	defer func() {
		c.mu.Lock()
		if c.cancel != nil {
			c.cancel()
		}
		c.closeLocked()
		c.mu.Unlock()
	}()
	c.sock.SetDeadline(time.Now().Add(handshakeTimeout))
	err := c.handshake()
	if err == nil {
		c.sock.SetDeadline(time.Time{})
		err = c.serve()
	}
	var perr *protocolError
	var ferr *fatalError
	switch {
	case err == nil || errors.Is(err, io.EOF):
		return nil
	case errors.As(err, &ferr):
		return err
	case errors.As(err, &perr):
		log.Printf("protocol error from the daemon: %s (%s)", perr.message, perr.code)
		c.send(object{"type": "error", "code": perr.code, "message": perr.message})
	default:
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		if !closed {
			log.Printf("connection lost: %v", err)
		}
	}
	return nil
}

func (c *connection) handshake() error {
	rt := c.rt
	module := object{
		"id":      rt.moduleID,
		"version": rt.moduleVersion,
		"runtime": goruntime.Version(),
		"pid":     os.Getpid(),
		"pool":    rt.settings.pool,
	}
	hello := object{
		"type":             "hello",
		"gateway_versions": []string{protocolVersion},
		"module":           module,
		"capabilities":     []string{"registered_function"},
	}
	cached := rt.cachedRegistration()
	if cached != nil {
		hello["cached_manifest_hash"] = cached.manifestHash
	}
	if err := c.send(hello); err != nil {
		return err
	}
	welcome, err := c.expect("welcome")
	if err != nil {
		return err
	}
	log.Printf("connected to %s", welcome.Daemon.Version)

	reg, err := c.expect("register", "register_resume")
	if err != nil {
		return err
	}
	current := &registration{reg.ManifestHash, reg.Endpoints}
	if reg.Type == "register_resume" {
		if cached == nil || cached.manifestHash != reg.ManifestHash {
			// We did not offer this hash; refuse without exiting: the next hello carries no
			// hash, so the daemon sends the full registration.
			rt.forgetRegistration()
			c.send(object{"type": "register_ack", "ok": false, "errors": []object{{
				"endpoint": "*", "reason": "unknown_manifest",
				"detail": "register_resume for a manifest this runtime has not cached"}}})
			return errors.New("register_resume for an unknown manifest")
		}
		current = cached
	}
	endpoints, failures := bind(current.endpoints, rt.handlers)
	if len(failures) > 0 {
		c.send(object{"type": "register_ack", "ok": false, "errors": failures})
		for _, failure := range failures {
			log.Printf("cannot serve %s: %s", failure["endpoint"], failure["detail"])
		}
		return &fatalError{"the daemon registered endpoints this runtime has no handler for"}
	}
	rt.rememberRegistration(current)
	resolved := make([]string, len(endpoints))
	for i, e := range endpoints {
		resolved[i] = e.key
	}
	c.mu.Lock()
	c.endpoints = endpoints
	c.registered = true
	c.mu.Unlock()
	if err := c.send(object{"type": "register_ack", "ok": true, "resolved": resolved}); err != nil {
		return err
	}
	how := "registered"
	if reg.Type == "register_resume" {
		how = "resumed"
	}
	log.Printf("serving %d endpoints (%s, pool %s)", len(endpoints), how, rt.settings.pool)
	return nil
}

func (c *connection) expect(types ...string) (*frame, error) {
	f, err := readFrame(c.sock)
	if err != nil {
		return nil, err
	}
	if f.Type == "error" {
		if f.Code == "gateway_version_unsupported" {
			return nil, &fatalError{fmt.Sprintf("the daemon does not speak %s: %s", protocolVersion, f.Message)}
		}
		return nil, fmt.Errorf("the daemon refused: %s: %s", f.Code, f.Message)
	}
	for _, t := range types {
		if f.Type == t {
			return f, nil
		}
	}
	return nil, &protocolError{"phase_violation", fmt.Sprintf("`%s` during the handshake", f.Type)}
}

func (c *connection) serve() error {
	c.mu.Lock()
	c.serving = true
	if c.draining { // SIGTERM arrived during the handshake
		c.goodbyeLocked()
	}
	c.mu.Unlock()
	for {
		f, err := readFrame(c.sock)
		if err != nil {
			return err
		}
		switch f.Type {
		case "request":
			if err := c.start(f); err != nil {
				return err
			}
		case "ping":
			c.send(object{"type": "pong", "nonce": f.Nonce})
		case "pong":
		case "goodbye":
			log.Printf("the daemon said goodbye (%s)", f.Reason)
			c.drain()
		case "error":
			log.Printf("daemon error %s: %s", f.Code, f.Message)
			if f.RequestID == nil {
				return nil // a connection-level error ends the connection
			}
			c.mu.Lock()
			if *f.RequestID == c.inFlight && c.cancel != nil {
				c.cancel() // e.g. handler_timeout: give the call up
				c.inFlight, c.cancel = "", nil
			}
			c.mu.Unlock()
		default:
			return &protocolError{"phase_violation", fmt.Sprintf("`%s` while serving", f.Type)}
		}
	}
}

func (c *connection) start(f *frame) error {
	if f.RequestID == nil {
		return &protocolError{"malformed_frame", "request without request_id"}
	}
	call := &Call{RequestID: *f.RequestID, Envelope: f.Envelope}
	var envelope struct {
		Method  string            `json:"method"`
		Path    string            `json:"path"`
		AgentID string            `json:"agent_id"`
		Headers map[string]string `json:"headers"`
		Input   json.RawMessage   `json:"input"`
	}
	if err := json.Unmarshal(f.Envelope, &envelope); err != nil {
		return &protocolError{"malformed_frame", fmt.Sprintf("request envelope: %v", err)}
	}
	call.Method, call.Path, call.AgentID = envelope.Method, envelope.Path, envelope.AgentID
	call.Headers, call.Input = envelope.Headers, envelope.Input
	// `deadline_ms` counts from when this runtime read the frame (PROTOCOL.md §8.4).
	deadline := 30 * time.Second
	if f.DeadlineMs != nil {
		deadline = time.Duration(*f.DeadlineMs) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inFlight != "" || c.draining {
		cancel()
		return &protocolError{"phase_violation", "a request while another is in flight"}
	}
	c.inFlight, c.cancel = call.RequestID, cancel
	go c.handle(ctx, cancel, call, route(c.endpoints, call.Method, call.Path))
	return nil
}

func (c *connection) handle(ctx context.Context, cancel context.CancelFunc, call *Call, e *endpoint) {
	defer cancel()
	answer := answer(ctx, call, e)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inFlight != call.RequestID {
		return // the daemon gave up on this call, or the connection ended
	}
	c.inFlight, c.cancel = "", nil
	if ctx.Err() != nil {
		log.Printf("request %s finished after its deadline; answer dropped", call.RequestID)
		return
	}
	if err := c.sendLocked(answer); err != nil {
		log.Printf("cannot answer request %s: %v", call.RequestID, err)
	}
	if c.draining {
		c.goodbyeLocked()
	}
}

// answer runs the handler and turns its outcome into a `response` or `error` frame.
func answer(ctx context.Context, call *Call, e *endpoint) (reply object) {
	defer func() {
		if p := recover(); p != nil {
			log.Printf("handler for %s %s panicked: %v", call.Method, call.Path, p)
			reply = handlerException(call, fmt.Errorf("panic: %v", p))
		}
	}()
	if e == nil {
		return handlerException(call, fmt.Errorf("no endpoint bound for %s %s", call.Method, call.Path))
	}
	body, err := e.handler(ctx, call)
	var declared *EndpointError
	switch {
	case errors.As(err, &declared):
		entry := object{"code": declared.Code, "message": declared.Message}
		if declared.Details != nil {
			entry["details"] = declared.Details
		}
		return object{"type": "response", "request_id": call.RequestID, "envelope": object{"endpoint_error": entry}}
	case err != nil:
		log.Printf("handler for %s %s failed: %v", call.Method, call.Path, err)
		return handlerException(call, err)
	}
	return object{"type": "response", "request_id": call.RequestID, "envelope": object{"body": body}}
}

func handlerException(call *Call, err error) object {
	return object{"type": "error", "request_id": call.RequestID, "code": "handler_exception",
		"message": err.Error(), "details": object{"exception": fmt.Sprintf("%T", err)}}
}

// drain starts nothing new; closes now if idle, else right after the answer in flight.
func (c *connection) drain() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.draining = true
	if !c.serving {
		c.closeLocked()
	} else if c.inFlight == "" {
		c.goodbyeLocked()
	}
}

func (c *connection) goodbyeLocked() {
	c.sendLocked(object{"type": "goodbye", "reason": "shutdown"})
	c.closeLocked()
}

// --- 6. the runtime ------------------------------------------------------------------------

type registration struct {
	manifestHash string
	endpoints    []endpointSpec
}

type runtime struct {
	settings      settings
	handlers      map[string]Handler
	moduleID      string
	moduleVersion string

	stopping chan struct{}
	stopOnce sync.Once
	mu       sync.Mutex // guards the fields below
	conns    map[*connection]struct{}
	// The last registration applied, offered on reconnect as `hello.cached_manifest_hash`
	// so the daemon can answer `register_resume` (PROTOCOL.md §7.3).
	cache    *registration
	exitCode int
}

func (rt *runtime) cachedRegistration() *registration {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.cache
}

func (rt *runtime) rememberRegistration(r *registration) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.cache = r
}

func (rt *runtime) forgetRegistration() { rt.rememberRegistration(nil) }

func (rt *runtime) run() int {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		s := <-signals
		log.Printf("%v: draining", s)
		rt.stop()
	}()
	var slots sync.WaitGroup
	for i := 0; i < rt.settings.connections; i++ {
		slots.Add(1)
		go func() {
			defer slots.Done()
			rt.keepConnected()
		}()
	}
	slots.Wait()
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.exitCode
}

// keepConnected keeps one connection open: connects, serves, and reconnects after a close.
func (rt *runtime) keepConnected() {
	attempt := 0
	next := func() time.Duration {
		d := backoff[len(backoff)-1]
		if attempt < len(backoff) {
			d = backoff[attempt]
		}
		attempt++
		return d
	}
	var delay time.Duration
	for {
		select {
		case <-rt.stopping:
			return
		case <-time.After(delay):
		}
		sock, err := net.Dial("unix", rt.settings.socketPath)
		if err != nil {
			delay = next()
			log.Printf("cannot connect to %s: %v; retrying in %v", rt.settings.socketPath, err, delay)
			continue
		}
		c := &connection{rt: rt, sock: sock}
		rt.mu.Lock()
		rt.conns[c] = struct{}{}
		rt.mu.Unlock()
		select {
		case <-rt.stopping:
			c.drain()
		default:
		}
		err = c.run()
		rt.mu.Lock()
		delete(rt.conns, c)
		rt.mu.Unlock()
		if err != nil {
			log.Printf("%v; exiting", err)
			rt.mu.Lock()
			rt.exitCode = 1
			rt.mu.Unlock()
			rt.stop()
			return
		}
		if c.registered {
			attempt = 0 // a registered session restarts the backoff
		}
		delay = next()
	}
}

// stop (SIGTERM): finish the requests in flight, say goodbye, and exit.
func (rt *runtime) stop() {
	rt.stopOnce.Do(func() { close(rt.stopping) })
	rt.mu.Lock()
	conns := make([]*connection, 0, len(rt.conns))
	for c := range rt.conns {
		conns = append(conns, c)
	}
	rt.mu.Unlock()
	for _, c := range conns {
		c.drain()
	}
}

func main() {
	log.SetPrefix("runtime: ")
	s, err := readSettings(os.Args[1:], os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "booking: %v\n", err)
		os.Exit(exitUsage)
	}
	rt := &runtime{
		settings:      s,
		handlers:      handlers,
		moduleID:      moduleID,
		moduleVersion: moduleVersion,
		stopping:      make(chan struct{}),
		conns:         map[*connection]struct{}{},
	}
	os.Exit(rt.run())
}
