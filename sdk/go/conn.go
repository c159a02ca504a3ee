package agtp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	goruntime "runtime"
	"strconv"
	"sync"
	"time"
)

const (
	// How long the daemon may take to answer `hello` and to send its registration.
	handshakeTimeout = 30 * time.Second
	// How long the daemon has to answer this runtime's ping (§10).
	pongTimeout = 30 * time.Second
	// How long a drained connection waits for the daemon to close it.
	closeGrace = 5 * time.Second
)

// FatalError reports what an operator has to fix (a refused registration, no common
// protocol version); the runtime stops instead of reconnecting and a program exits 1.
type FatalError struct{ Message string }

func (e *FatalError) Error() string { return e.Message }

// writer coalesces frames: whoever finds it idle writes everything queued meanwhile in one
// write, so answers that are ready together leave together (§8.6).
type writer struct {
	mu       sync.Mutex
	sock     net.Conn
	pending  []byte
	spare    []byte
	flushing bool
	err      error
}

func (w *writer) write(frame []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	w.pending = append(w.pending, frame...)
	if w.flushing {
		return nil
	}
	w.flushing = true
	for len(w.pending) > 0 && w.err == nil {
		buf := w.pending
		w.pending = w.spare[:0]
		w.mu.Unlock()
		_, err := w.sock.Write(buf)
		w.mu.Lock()
		if err != nil {
			w.err = err
		}
		w.spare = buf[:0]
	}
	w.flushing = false
	return w.err
}

// call is a request in flight.
type call struct {
	req    *Request
	cancel context.CancelFunc
}

type signResult struct {
	sig *Signature
	err error
}

// conn is one connection to the daemon. Its goroutine reads frames; each request runs on a
// goroutine of its own, so pings and cancellations are handled while handlers work.
type conn struct {
	rt       *Runtime
	settings Settings
	sock     net.Conn
	out      *writer
	// ctx ends when the connection closes; every request's context derives from it.
	ctx    context.Context
	cancel context.CancelFunc

	mu              sync.Mutex // guards the fields below
	serving         bool
	registered      bool
	multiplexed     bool
	limit           int
	signingGranted  bool
	draining        bool
	goodbyeSent     bool
	goodbyeReceived bool
	reconnectNow    bool
	closed          bool
	calls           map[string]*call
	answering       int // answers taken out of calls but not yet written
	signOps         map[string]chan signResult
	nextOperation   int
	router          *router
	heardAt         time.Time
	pingSentAt      time.Time
	nextNonce       int
}

func newConn(rt *Runtime, s Settings, sock net.Conn) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	return &conn{
		rt: rt, settings: s, sock: sock, out: &writer{sock: sock}, ctx: ctx, cancel: cancel,
		calls: map[string]*call{}, signOps: map[string]chan signResult{}, heardAt: time.Now(),
	}
}

// send writes one frame. The writer has its own lock, so send may be called with c.mu held,
// which orders a frame after the state change that produced it.
func (c *conn) send(f any) error {
	bytes, err := encodeFrame(f, c.settings.MaxFrameBytes)
	if err != nil {
		return err
	}
	return c.out.write(bytes)
}

// close ends the connection: handlers see their contexts end, signers get
// `connection_closed`, and the reading goroutine wakes up.
func (c *conn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked()
}

func (c *conn) closeLocked() {
	if c.closed {
		return
	}
	c.closed = true
	c.cancel()
	c.sock.Close()
	for id, ch := range c.signOps {
		ch <- signResult{err: &SigningError{"connection_closed", "the connection to the daemon closed"}}
		delete(c.signOps, id)
	}
}

// run: handshake, registration, then serving until the connection ends. Only a
// *FatalError is returned.
func (c *conn) run() error {
	defer c.close()
	c.sock.SetDeadline(time.Now().Add(handshakeTimeout))
	err := c.handshake()
	if err == nil {
		c.sock.SetDeadline(time.Time{})
		go c.keepalive()
		err = c.serve()
	}
	var perr *protocolError
	var ferr *FatalError
	switch {
	case err == nil || errors.Is(err, io.EOF):
		return nil
	case errors.As(err, &ferr):
		return err
	case errors.As(err, &perr):
		c.rt.logf("protocol error from the daemon: %s", perr.Error())
		c.send(object{"type": "error", "code": perr.code, "message": perr.message})
	default:
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		if !closed {
			c.rt.logf("connection lost: %v", err)
		}
	}
	return nil
}

func (c *conn) handshake() error {
	capabilities := []string{"registered_function", "sign_request"}
	if c.settings.MaxInFlight > 1 {
		capabilities = append(capabilities, "multiplex")
	}
	hello := object{
		"type":             "hello",
		"gateway_versions": []string{ProtocolVersion},
		"module": object{
			"id": c.rt.info.Name, "version": c.rt.info.Version, "pool": c.settings.Pool,
			"runtime": "go " + goruntime.Version(), "pid": os.Getpid(),
		},
		"capabilities": capabilities,
	}
	if c.settings.MaxInFlight > 1 {
		hello["max_in_flight"] = c.settings.MaxInFlight
	}
	cached := c.rt.cachedRegistration()
	if cached != nil {
		hello["cached_manifest_hash"] = cached.hash
	}
	if err := c.send(hello); err != nil {
		return err
	}
	welcome, err := c.expect("welcome")
	if err != nil {
		return err
	}
	if welcome.GatewayVersion != ProtocolVersion {
		return &FatalError{fmt.Sprintf("the daemon chose protocol version `%s`, not %s", welcome.GatewayVersion, ProtocolVersion)}
	}
	for _, capability := range welcome.Capabilities {
		switch capability {
		case "multiplex":
			if c.settings.MaxInFlight > 1 && welcome.MaxInFlight > 1 {
				c.multiplexed, c.limit = true, welcome.MaxInFlight
			}
		case "sign_request":
			c.signingGranted = true
		}
	}
	if !c.multiplexed {
		c.limit = 1
	}

	reg, err := c.expect("register", "register_resume")
	if err != nil {
		return err
	}
	current := &registration{reg.ManifestHash, reg.Endpoints}
	if reg.Type == "register_resume" {
		if cached == nil || cached.hash != reg.ManifestHash {
			// Not the hash offered: refuse, forget, and let the next hello get the full set.
			c.rt.forgetRegistration()
			c.send(object{"type": "register_ack", "ok": false, "errors": []object{{
				"endpoint": "*", "reason": "unknown_manifest",
				"detail": "register_resume for a manifest this runtime has not cached"}}})
			return errors.New("register_resume for a manifest this runtime has not cached")
		}
		current = cached
	}
	endpoints, failures := c.rt.bind(current.endpoints)
	if len(failures) > 0 {
		c.send(object{"type": "register_ack", "ok": false, "errors": failures})
		for _, failure := range failures {
			c.rt.logf("cannot serve %s: %s", failure["endpoint"], failure["detail"])
		}
		return &FatalError{"the daemon registered endpoints this runtime has no handler for"}
	}
	c.rt.rememberRegistration(current)
	resolved := make([]string, len(endpoints))
	for i, e := range endpoints {
		resolved[i] = e.Method + " " + e.Path
	}
	c.mu.Lock()
	c.router = newRouter(endpoints)
	c.registered = true
	c.mu.Unlock()
	if err := c.send(object{"type": "register_ack", "ok": true, "resolved": resolved}); err != nil {
		return err
	}
	how := "registered"
	if reg.Type == "register_resume" {
		how = "resumed"
	}
	mode := "one request at a time"
	if c.multiplexed {
		mode = "multiplexed, " + strconv.Itoa(c.limit) + " in flight"
	}
	c.rt.logf("serving %d endpoints (%s, pool %s, %s)", len(endpoints), how, c.settings.Pool, mode)
	return nil
}

func (c *conn) expect(types ...string) (*inFrame, error) {
	f, err := readFrame(c.sock, c.settings.MaxFrameBytes)
	if err != nil {
		return nil, err
	}
	if f.Type == "error" {
		if f.Code == "gateway_version_unsupported" {
			return nil, &FatalError{fmt.Sprintf("the daemon does not speak protocol %s: %s", ProtocolVersion, f.Message)}
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

func (c *conn) serve() error {
	c.mu.Lock()
	c.serving = true
	c.mu.Unlock()
	for {
		f, err := readFrame(c.sock, c.settings.MaxFrameBytes)
		if err != nil {
			return err
		}
		c.mu.Lock()
		c.heardAt = time.Now()
		c.mu.Unlock()
		switch f.Type {
		case "request":
			if err := c.start(f); err != nil {
				return err
			}
		case "ping":
			c.send(object{"type": "pong", "nonce": f.Nonce})
		case "pong":
			c.mu.Lock()
			c.pingSentAt = time.Time{}
			c.mu.Unlock()
		case "goodbye":
			c.onGoodbye(f)
		case "error":
			if f.RequestID == nil {
				if f.Code == "gateway_version_unsupported" {
					return &FatalError{fmt.Sprintf("the daemon does not speak protocol %s: %s", ProtocolVersion, f.Message)}
				}
				c.rt.logf("the daemon closes the connection: %s: %s", f.Code, f.Message)
				return nil
			}
			c.onRequestError(f)
		case "sign_response", "sign_error":
			c.onSignAnswer(f)
		default:
			return &protocolError{"phase_violation", fmt.Sprintf("`%s` while serving", f.Type)}
		}
	}
}

func (c *conn) start(f *inFrame) error {
	receivedAt := time.Now()
	if f.RequestID == nil || *f.RequestID == "" {
		return &protocolError{"malformed_frame", "a request without request_id"}
	}
	var env envelope
	if err := json.Unmarshal(f.Envelope, &env); err != nil {
		return &protocolError{"malformed_frame", fmt.Sprintf("request envelope: %v", err)}
	}
	id := *f.RequestID
	req := &Request{
		GatewayRequestID: id, RequestID: env.RequestID, Method: env.Method, Path: env.Path,
		AgentID: env.AgentID, PrincipalID: env.PrincipalID,
		AgentScopes: env.AgentScopes, AuthorityScopes: env.AuthorityScope,
		SessionID: deref(env.SessionID), TaskID: deref(env.TaskID), Headers: env.Headers,
		Trust: f.Trust, AgentVerified: env.AgentVerified,
		AgentCertFingerprint: deref(env.AgentCertFingerprint), AgentCertExtensions: env.AgentCertExtensions,
		Input: env.Input, Envelope: f.Envelope, conn: c,
	}
	if req.Headers == nil {
		req.Headers = map[string]string{}
	}
	var ctx context.Context
	var cancel context.CancelFunc
	if f.DeadlineMs != nil {
		// `deadline_ms` counts from when the runtime read the frame (§8.4).
		req.Deadline = receivedAt.Add(time.Duration(*f.DeadlineMs) * time.Millisecond)
		ctx, cancel = context.WithDeadline(c.ctx, req.Deadline)
	} else {
		ctx, cancel = context.WithCancel(c.ctx)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.goodbyeReceived:
		cancel()
		return &protocolError{"phase_violation", "a request after the daemon said goodbye"}
	case len(c.calls) >= c.limit:
		cancel()
		return &protocolError{"phase_violation", fmt.Sprintf("a request while %d are in flight", len(c.calls))}
	case c.calls[id] != nil:
		cancel()
		return &protocolError{"phase_violation", "a request id already in flight: " + id}
	}
	endpoint, params := c.router.route(req.Method, req.Path)
	if endpoint != nil {
		req.Endpoint, req.Params = endpoint.Endpoint, params
	}
	if req.Params == nil {
		req.Params = map[string]string{}
	}
	cl := &call{req: req, cancel: cancel}
	c.calls[id] = cl
	go c.handle(ctx, cl, endpoint)
	return nil
}

func (c *conn) handle(ctx context.Context, cl *call, endpoint *boundEndpoint) {
	defer cl.cancel()
	answer := c.rt.answer(ctx, cl.req, endpoint)
	id := cl.req.GatewayRequestID
	c.mu.Lock()
	if c.calls[id] != cl {
		c.mu.Unlock()
		return // the daemon gave up on this call, or the connection ended
	}
	delete(c.calls, id)
	c.answering++
	multiplexed := c.multiplexed
	c.mu.Unlock()
	// Sent without c.mu, so that answers finishing together queue up in the writer and
	// leave in one write.
	switch {
	case !cl.req.Deadline.IsZero() && !time.Now().Before(cl.req.Deadline):
		// Past the deadline the daemon has answered the agent 504. One request at a time,
		// it closes the connection too; multiplexed, any answer frees the request's slot.
		if multiplexed {
			c.send(timeoutFrame(id))
		} else {
			c.rt.logf("request %s finished after its deadline; the answer is dropped", id)
		}
	default:
		if err := c.send(answer); err != nil && !errors.Is(err, net.ErrClosed) {
			c.rt.logf("cannot send the answer to request %s: %v", id, err)
			c.send(exceptionFrame(id, err))
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.answering--
	if c.draining && c.idleLocked() {
		c.drainedLocked()
	}
}

// idleLocked: nothing in flight and no answer on its way out.
func (c *conn) idleLocked() bool { return len(c.calls) == 0 && c.answering == 0 }

func timeoutFrame(id string) object {
	return object{"type": "error", "request_id": id, "code": "handler_timeout", "message": "cancelled at the deadline"}
}

func exceptionFrame(id string, err error) object {
	return object{"type": "error", "request_id": id, "code": "handler_exception",
		"message": err.Error(), "details": object{"type": fmt.Sprintf("%T", err)}}
}

func (c *conn) onGoodbye(f *inFrame) {
	c.mu.Lock()
	defer c.mu.Unlock()
	reason := f.Reason
	if reason == "" {
		reason = "no reason"
	}
	c.rt.logf("the daemon said goodbye (%s)", reason)
	c.goodbyeReceived, c.draining = true, true
	c.reconnectNow = f.Reason == "manifest_reload"
	if c.idleLocked() {
		c.drainedLocked()
	}
}

func (c *conn) onRequestError(f *inFrame) {
	id := *f.RequestID
	c.mu.Lock()
	defer c.mu.Unlock()
	cl := c.calls[id]
	switch {
	case cl == nil:
		// The daemon's verdict on an answer already sent (output_schema_failure, ...).
		c.rt.logf("the daemon reports `%s` for request %s: %s", f.Code, id, f.Message)
		return
	case f.Code != "handler_timeout":
		c.rt.logf("the daemon reports `%s` for request %s in flight: %s", f.Code, id, f.Message)
		return
	}
	c.rt.logf("request %s (%s %s) missed its deadline; cancelling its handler", id, cl.req.Method, cl.req.Path)
	delete(c.calls, id)
	cl.cancel()
	// The abandoned request holds a slot until it is answered (§8.6).
	if c.multiplexed {
		c.send(timeoutFrame(id))
	}
	if c.draining && c.idleLocked() {
		c.drainedLocked()
	}
}

// drain starts nothing new: says goodbye, answers what is in flight, and lets the daemon
// close.
func (c *conn) drain() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.draining || c.closed {
		return
	}
	c.draining = true
	if !c.serving {
		c.closeLocked()
		return
	}
	c.sendGoodbyeLocked()
	if c.idleLocked() {
		c.drainedLocked()
	}
}

// drainedLocked: draining with nothing left in flight.
func (c *conn) drainedLocked() {
	if c.goodbyeReceived {
		c.sendGoodbyeLocked()
		c.closeLocked()
		return
	}
	// Our goodbye is out; closing is the daemon's move once it sees us idle (§10).
	time.AfterFunc(closeGrace, c.close)
}

func (c *conn) sendGoodbyeLocked() {
	if !c.goodbyeSent {
		c.goodbyeSent = true
		c.send(object{"type": "goodbye", "reason": "shutdown"})
	}
}

// keepalive pings the daemon after a quiet interval with nothing in flight, and closes the
// connection when the answer does not come (§10).
func (c *conn) keepalive() {
	tick := c.settings.Keepalive / 4
	if tick > time.Second {
		tick = time.Second
	}
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case now := <-ticker.C:
			c.mu.Lock()
			switch {
			case !c.pingSentAt.IsZero() && c.heardAt.After(c.pingSentAt):
				c.pingSentAt = time.Time{}
			case !c.pingSentAt.IsZero() && now.Sub(c.pingSentAt) >= pongTimeout:
				c.rt.logf("the daemon did not answer a ping within %v; closing", pongTimeout)
				c.closeLocked()
			case c.pingSentAt.IsZero() && now.Sub(c.heardAt) >= c.settings.Keepalive && c.idleLocked() && !c.draining:
				c.pingSentAt = now
				c.nextNonce++
				c.send(object{"type": "ping", "nonce": "r-" + strconv.Itoa(c.nextNonce)})
			}
			c.mu.Unlock()
		}
	}
}

// sign sends `sign_request` for the request in flight id and waits for the answer.
func (c *conn) sign(ctx context.Context, id string, data []byte) (*Signature, error) {
	c.mu.Lock()
	switch {
	case !c.signingGranted:
		c.mu.Unlock()
		return nil, &SigningError{"not_granted", "the daemon did not grant `sign_request` on this connection (it has no signing key)"}
	case c.closed:
		c.mu.Unlock()
		return nil, &SigningError{"connection_closed", "the connection to the daemon closed"}
	case c.calls[id] == nil:
		c.mu.Unlock()
		return nil, &SigningError{"request_finished", "this request is no longer in flight, so nothing can be signed for it"}
	}
	c.nextOperation++
	op := "s" + strconv.Itoa(c.nextOperation)
	answer := make(chan signResult, 1)
	c.signOps[op] = answer
	err := c.send(object{"type": "sign_request", "operation_id": op,
		"data_b64": base64.RawURLEncoding.EncodeToString(data), "request_id": id})
	if err != nil {
		delete(c.signOps, op)
	}
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	select {
	case result := <-answer:
		return result.sig, result.err
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.signOps, op)
		c.mu.Unlock()
		return nil, ctx.Err()
	}
}

func (c *conn) onSignAnswer(f *inFrame) {
	c.mu.Lock()
	answer := c.signOps[f.OperationID]
	delete(c.signOps, f.OperationID)
	c.mu.Unlock()
	if answer == nil {
		c.rt.logf("a %s for unknown operation `%s`; ignored", f.Type, f.OperationID)
		return
	}
	if f.Type == "sign_error" {
		answer <- signResult{err: &SigningError{f.Code, f.Message}}
		return
	}
	sig, err := base64.RawURLEncoding.DecodeString(f.SignatureB64)
	if err != nil || len(sig) != 64 {
		answer <- signResult{err: &SigningError{"sign_failure", "the daemon sent a malformed signature"}}
		return
	}
	answer <- signResult{sig: &Signature{Kid: f.Kid, Alg: f.Alg, Signature: sig}}
}
