// Package agtptest runs a gateway daemon inside a test's process, to test the handlers of an
// agtp.Runtime without agtpd. The runtime connects to it over a real Unix socket and goes
// through the same framing, handshake, registration and dispatch code as in production.
package agtptest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"agtpd.dev/agtp"
)

const handshakeTimeout = 5 * time.Second

// Endpoint is an endpoint to register. No schemas are checked.
type Endpoint struct {
	Method string
	// Path is the template, such as `/rooms/{room_id}`.
	Path string
	// HandlerReference is the `[endpoint.handler] function`; empty binds by route only.
	HandlerReference string
	// Errors are the declared error codes.
	Errors []string
}

// Options configure a Daemon.
type Options struct {
	Endpoints []Endpoint
	// Multiplex above 1 grants multiplexing with that many requests in flight.
	Multiplex int
	// Signing grants `sign_request`, signing with a fresh key (Daemon.PublicKey).
	Signing bool
	// Deadline is the `deadline_ms` of each call; 0 means 30 s.
	Deadline time.Duration
	// Connections is how many connections the runtime opens; 0 means 1.
	Connections int
	// Pool is the runtime's pool; "" means "default".
	Pool string
}

// Call sets who makes a call and how long it may take.
type Call struct {
	Headers         map[string]string
	AgentID         string // "" means "test-agent"
	PrincipalID     string
	AgentScopes     []string
	AuthorityScopes []string
	SessionID       string
	TaskID          string
	RequestID       string
	// Deadline overrides Options.Deadline for this call.
	Deadline             time.Duration
	AgentVerified        bool
	AgentCertFingerprint string
	AgentCertExtensions  map[string]any
}

// Problem is a declared error, or the problem agtpd would answer with.
type Problem struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details,omitempty"`
}

// Response is what the agent would get.
type Response struct {
	Status  int
	Headers map[string]string
	// Body is the reply body; for a failure, agtpd's problem body.
	Body json.RawMessage
	// Error is the declared error, or agtpd's problem such as `handler-exception`.
	Error            *Problem
	AttributionExtra map[string]any
	// Exception is the runtime's diagnosis of a failure, which agtpd only logs.
	Exception *Problem
}

// Decode unmarshals the body into v.
func (r *Response) Decode(v any) error { return json.Unmarshal(r.Body, v) }

// Daemon plays agtpd's side of the gateway protocol for one Runtime.
type Daemon struct {
	// PublicKey verifies the signatures of a Daemon started with Signing.
	PublicKey ed25519.PublicKey

	opts     Options
	specs    []spec
	hash     string
	schemas  map[string]any
	key      ed25519.PrivateKey
	dir      string
	listener net.Listener
	stop     context.CancelFunc
	served   chan error

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced whenever peers or their loads change
	peers    []*peer
	refused  error
	nextID   int
	closing  bool
	serveErr error
}

type spec struct {
	Method           string   `json:"method"`
	Path             string   `json:"path"`
	HandlerReference string   `json:"handler_reference"`
	InputSchemaRef   string   `json:"input_schema_ref"`
	OutputSchemaRef  string   `json:"output_schema_ref"`
	Errors           []string `json:"errors"`
}

// Start starts a daemon, lets rt connect to it, and returns once every connection is
// registered; it fails when the runtime refuses the registration.
func Start(rt *agtp.Runtime, opts Options) (*Daemon, error) {
	if len(opts.Endpoints) == 0 {
		return nil, errors.New("agtptest: Options.Endpoints lists no endpoint")
	}
	if opts.Deadline == 0 {
		opts.Deadline = 30 * time.Second
	}
	if opts.Connections == 0 {
		opts.Connections = 1
	}
	d := &Daemon{opts: opts, schemas: map[string]any{}, served: make(chan error, 1), changed: make(chan struct{})}
	for i, e := range opts.Endpoints {
		method := strings.ToUpper(e.Method)
		ref := e.HandlerReference
		if ref == "" {
			ref = "test:" + method + " " + e.Path
		}
		errs := append([]string{}, e.Errors...)
		d.schemas["input-"+strconv.Itoa(i)] = map[string]any{}
		d.schemas["output-"+strconv.Itoa(i)] = map[string]any{}
		d.specs = append(d.specs, spec{method, e.Path, ref, fmt.Sprintf("#/schemas/input-%d", i), fmt.Sprintf("#/schemas/output-%d", i), errs})
	}
	d.hash = manifestHash(d.specs, d.schemas)
	if opts.Signing {
		public, private, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		d.PublicKey, d.key = public, private
	}
	dir, err := os.MkdirTemp("", "agtptest-")
	if err != nil {
		return nil, err
	}
	d.dir = dir
	socket := filepath.Join(dir, "gateway.sock")
	if d.listener, err = net.Listen("unix", socket); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	go d.accept()
	ctx, stop := context.WithCancel(context.Background())
	d.stop = stop
	go func() {
		d.served <- rt.Serve(ctx, agtp.Settings{Socket: socket, Pool: opts.Pool, Connections: opts.Connections})
	}()
	if err := d.awaitRegistered(); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// manifestHash follows PROTOCOL.md §7.3; encoding/json sorts map keys, and the values
// here are strings, arrays and maps only, so its output is the canonical form.
func manifestHash(specs []spec, schemas map[string]any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(map[string]any{"endpoints": specs, "schemas": schemas})
	sum := sha256.Sum256(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func (d *Daemon) notifyLocked() {
	close(d.changed)
	d.changed = make(chan struct{})
}

func (d *Daemon) awaitRegistered() error {
	timeout := time.After(handshakeTimeout)
	for {
		d.mu.Lock()
		ready, refused, changed := len(d.peers), d.refused, d.changed
		d.mu.Unlock()
		switch {
		case refused != nil:
			return refused
		case ready >= d.opts.Connections:
			return nil
		}
		select {
		case <-changed:
		case err := <-d.served:
			d.served <- err
			if err == nil {
				err = errors.New("the runtime stopped")
			}
			return fmt.Errorf("agtptest: the runtime stopped before it registered: %w", err)
		case <-timeout:
			return errors.New("agtptest: the runtime did not register in time")
		}
	}
}

func (d *Daemon) accept() {
	for {
		sock, err := d.listener.Accept()
		if err != nil {
			return
		}
		go d.handshake(sock)
	}
}

type frame = map[string]any

func writeFrame(sock net.Conn, f frame) error {
	payload, err := json.Marshal(f)
	if err != nil {
		return err
	}
	out := make([]byte, 4, 4+len(payload))
	binary.BigEndian.PutUint32(out, uint32(len(payload)))
	_, err = sock.Write(append(out, payload...))
	return err
}

// readFrame decodes the next frame; numbers stay json.Number.
func readFrame(sock net.Conn) (frame, error) {
	var header [4]byte
	if _, err := readFull(sock, header[:]); err != nil {
		return nil, err
	}
	length := binary.BigEndian.Uint32(header[:])
	if length == 0 || length > agtp.MaxFrameBytes {
		return nil, fmt.Errorf("a frame of %d bytes", length)
	}
	payload := make([]byte, length)
	if _, err := readFull(sock, payload); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var f frame
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	return f, nil
}

func readFull(sock net.Conn, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := sock.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func str(f frame, key string) string {
	s, _ := f[key].(string)
	return s
}

// peer is one registered connection of the runtime.
type peer struct {
	d           *Daemon
	sock        net.Conn
	writeMu     sync.Mutex
	multiplexed bool
	limit       int
	inFlight    map[string]chan frame // guarded by d.mu
	goodbye     bool                  // guarded by d.mu
	pongs       chan string
}

func (p *peer) send(f frame) error {
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	return writeFrame(p.sock, f)
}

func (d *Daemon) handshake(sock net.Conn) {
	sock.SetDeadline(time.Now().Add(handshakeTimeout))
	hello, err := readFrame(sock)
	if err != nil || str(hello, "type") != "hello" {
		sock.Close()
		return
	}
	claimed := map[string]bool{}
	if list, ok := hello["capabilities"].([]any); ok {
		for _, c := range list {
			if s, ok := c.(string); ok {
				claimed[s] = true
			}
		}
	}
	p := &peer{d: d, sock: sock, limit: 1, inFlight: map[string]chan frame{}, pongs: make(chan string, 1)}
	granted := []string{"registered_function"}
	welcome := frame{"type": "welcome", "gateway_version": agtp.ProtocolVersion,
		"daemon": frame{"version": "agtptest", "server_id": "agtptest"}}
	if d.opts.Signing && claimed["sign_request"] {
		granted = append(granted, "sign_request")
	}
	if asked, _ := hello["max_in_flight"].(json.Number).Int64(); d.opts.Multiplex > 1 && claimed["multiplex"] && asked > 1 {
		p.multiplexed, p.limit = true, d.opts.Multiplex
		if int(asked) < p.limit {
			p.limit = int(asked)
		}
		granted = append(granted, "multiplex")
		welcome["max_in_flight"] = p.limit
	}
	welcome["capabilities"] = granted
	if err := writeFrame(sock, welcome); err != nil {
		sock.Close()
		return
	}
	if str(hello, "cached_manifest_hash") == d.hash {
		err = writeFrame(sock, frame{"type": "register_resume", "manifest_hash": d.hash})
	} else {
		err = writeFrame(sock, frame{"type": "register", "manifest_hash": d.hash, "endpoints": d.specs, "schemas": d.schemas})
	}
	if err != nil {
		sock.Close()
		return
	}
	ack, err := readFrame(sock)
	if err != nil || str(ack, "type") != "register_ack" {
		sock.Close()
		return
	}
	if ok, _ := ack["ok"].(bool); !ok {
		detail, _ := json.Marshal(ack["errors"])
		d.mu.Lock()
		d.refused = fmt.Errorf("agtptest: the runtime refused the registration: %s", detail)
		d.notifyLocked()
		d.mu.Unlock()
		sock.Close()
		return
	}
	sock.SetDeadline(time.Time{})
	d.mu.Lock()
	d.peers = append(d.peers, p)
	d.notifyLocked()
	d.mu.Unlock()
	p.read()
}

// read handles the runtime's frames until the connection ends.
func (p *peer) read() {
	d := p.d
	defer func() {
		p.sock.Close()
		d.mu.Lock()
		for i, other := range d.peers {
			if other == p {
				d.peers = append(d.peers[:i], d.peers[i+1:]...)
				break
			}
		}
		for id, answer := range p.inFlight {
			answer <- frame{"type": "error", "code": "connection_closed"}
			delete(p.inFlight, id)
		}
		d.notifyLocked()
		d.mu.Unlock()
	}()
	for {
		f, err := readFrame(p.sock)
		if err != nil {
			return
		}
		switch str(f, "type") {
		case "response", "error":
			id := str(f, "request_id")
			if id == "" {
				return // a connection-level error
			}
			d.mu.Lock()
			answer := p.inFlight[id]
			delete(p.inFlight, id)
			idle := len(p.inFlight) == 0
			d.notifyLocked()
			d.mu.Unlock()
			if answer != nil {
				answer <- f
			}
			if idle && p.goodbyeSeen() {
				return
			}
		case "sign_request":
			p.sign(f)
		case "ping":
			p.send(frame{"type": "pong", "nonce": f["nonce"]})
		case "pong":
			select {
			case p.pongs <- str(f, "nonce"):
			default:
			}
		case "goodbye":
			d.mu.Lock()
			p.goodbye = true
			idle := len(p.inFlight) == 0
			d.notifyLocked()
			d.mu.Unlock()
			if idle {
				return // agtpd closes a connection that said goodbye once it is idle
			}
		default:
			return
		}
	}
}

func (p *peer) goodbyeSeen() bool {
	p.d.mu.Lock()
	defer p.d.mu.Unlock()
	return p.goodbye
}

func (p *peer) sign(f frame) {
	op := f["operation_id"]
	if p.d.key == nil {
		p.send(frame{"type": "sign_error", "operation_id": op, "code": "signing_unavailable", "message": "no signing key"})
		return
	}
	data, err := base64.RawURLEncoding.DecodeString(str(f, "data_b64"))
	if err != nil {
		p.send(frame{"type": "sign_error", "operation_id": op, "code": "sign_failure", "message": "data_b64 is not base64url"})
		return
	}
	p.send(frame{"type": "sign_response", "operation_id": op, "kid": "agtptest", "alg": "Ed25519",
		"signature_b64": base64.RawURLEncoding.EncodeToString(ed25519.Sign(p.d.key, data))})
}

// route finds the endpoint of method and path, with its path parameters: of the templates
// that match, the one with the most literal segments.
func (d *Daemon) route(method, path string) (*spec, map[string]string) {
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	var best *spec
	var bestParams map[string]string
	bestLiterals := -1
	for i := range d.specs {
		s := &d.specs[i]
		segments := strings.Split(strings.TrimPrefix(s.Path, "/"), "/")
		if s.Method != method || len(segments) != len(parts) {
			continue
		}
		params, literals := map[string]string{}, 0
		matched := true
		for j, seg := range segments {
			if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") && parts[j] != "" {
				value, err := url.PathUnescape(parts[j])
				if err != nil {
					value = parts[j]
				}
				params[seg[1:len(seg)-1]] = value
			} else if seg == parts[j] {
				literals++
			} else {
				matched = false
				break
			}
		}
		if matched && literals > bestLiterals {
			best, bestParams, bestLiterals = s, params, literals
		}
	}
	return best, bestParams
}

// Call makes a call as an agent would, merging the query and path parameters into input
// (a value that encodes to a JSON object, or nil) as agtpd does, and returns what the agent
// would get. call may be nil.
func (d *Daemon) Call(method, target string, input any, call *Call) (*Response, error) {
	if call == nil {
		call = &Call{}
	}
	method = strings.ToUpper(method)
	path, query, _ := strings.Cut(target, "?")
	s, params := d.route(method, path)
	if s == nil {
		return problem(404, "endpoint-not-found", "no endpoint "+method+" "+path), nil
	}
	body := map[string]any{}
	if input != nil {
		raw, err := json.Marshal(input)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(raw, &body); err != nil {
			return nil, fmt.Errorf("agtptest: the input must encode to a JSON object: %w", err)
		}
	}
	values, _ := url.ParseQuery(query)
	for name, v := range values {
		body[name] = v[0]
	}
	for name, v := range params {
		body[name] = v
	}
	deadline := d.opts.Deadline
	if call.Deadline != 0 {
		deadline = call.Deadline
	}
	agent := call.AgentID
	if agent == "" {
		agent = "test-agent"
	}
	headers := map[string]string{}
	for name, v := range call.Headers {
		headers[strings.ToLower(name)] = v
	}

	d.mu.Lock()
	d.nextID++
	id := "test-" + strconv.Itoa(d.nextID)
	requestID := call.RequestID
	if requestID == "" {
		requestID = id
	}
	d.mu.Unlock()
	env := frame{
		"method": method, "path": target, "input": body, "agent_id": agent, "principal_id": call.PrincipalID,
		"agent_scopes": orEmpty(call.AgentScopes), "authority_scope": orEmpty(call.AuthorityScopes),
		"session_id": nullable(call.SessionID), "task_id": nullable(call.TaskID), "request_id": requestID,
		"headers": headers, "agent_verified": call.AgentVerified,
		"agent_cert_fingerprint": nullable(call.AgentCertFingerprint), "agent_cert_extensions": orEmptyMap(call.AgentCertExtensions),
	}
	trustMethod := "agent_id_header"
	if call.AgentVerified {
		trustMethod = "agent_cert_mtls"
	}
	trust := frame{"verified": call.AgentVerified, "agent_id": agent,
		"agent_cert_fingerprint": nullable(call.AgentCertFingerprint), "method": trustMethod}

	expires := time.Now().Add(deadline)
	p, answer, err := d.reserve(id, expires)
	if err != nil {
		return problem(503, "runtime-busy", err.Error()), nil
	}
	left := time.Until(expires)
	if err := p.send(frame{"type": "request", "request_id": id, "envelope": env, "trust": trust,
		"deadline_ms": left.Milliseconds()}); err != nil {
		return problem(503, "runtime-failed", "the runtime failed before answering"), nil
	}
	timer := time.NewTimer(left)
	defer timer.Stop()
	select {
	case f := <-answer:
		return translate(f, s), nil
	case <-timer.C:
		p.send(frame{"type": "error", "request_id": id, "code": "handler_timeout", "message": "the deadline passed"})
		if !p.multiplexed {
			p.sock.Close() // as agtpd does: the runtime may still be busy
		}
		return problem(504, "handler-timeout", "the handler of `"+s.Method+" "+s.Path+"` did not answer in time"), nil
	}
}

// reserve finds a connection with room for one more request, waiting until expires.
func (d *Daemon) reserve(id string, expires time.Time) (*peer, chan frame, error) {
	for {
		d.mu.Lock()
		var best *peer
		for _, p := range d.peers {
			if !p.goodbye && len(p.inFlight) < p.limit && (best == nil || len(p.inFlight) < len(best.inFlight)) {
				best = p
			}
		}
		if best != nil {
			answer := make(chan frame, 1)
			best.inFlight[id] = answer
			d.mu.Unlock()
			return best, answer, nil
		}
		changed, closing := d.changed, d.closing
		d.mu.Unlock()
		if closing {
			return nil, nil, errors.New("the test daemon is closed")
		}
		select {
		case <-changed:
		case <-time.After(time.Until(expires)):
			return nil, nil, errors.New("no connection of the runtime had room in time")
		}
	}
}

func orEmpty(list []string) []string {
	if list == nil {
		return []string{}
	}
	return list
}

func orEmptyMap(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func problem(status int, code, message string) *Response {
	p := &Problem{Code: code, Message: message}
	body, _ := json.Marshal(map[string]any{"error": p})
	return &Response{Status: status, Headers: map[string]string{}, Body: body, Error: p}
}

// translate turns the runtime's answer into what the agent gets (PROTOCOL.md §12).
func translate(f frame, s *spec) *Response {
	where := "`" + s.Method + " " + s.Path + "`"
	if str(f, "type") == "error" {
		exception := &Problem{Code: str(f, "code"), Message: str(f, "message")}
		exception.Details, _ = f["details"].(map[string]any)
		var r *Response
		switch exception.Code {
		case "connection_closed":
			r = problem(503, "runtime-failed", "the runtime failed before answering")
		case "handler_timeout":
			r = problem(504, "handler-timeout", "the handler of "+where+" did not answer in time")
		default:
			r = problem(500, "handler-exception", "the handler of "+where+" failed; the operator's log has the detail")
		}
		r.Exception = exception
		return r
	}
	env, _ := f["envelope"].(map[string]any)
	if declared, ok := env["endpoint_error"].(map[string]any); ok {
		e := &Problem{Code: str(declared, "code"), Message: str(declared, "message")}
		e.Details, _ = declared["details"].(map[string]any)
		for _, code := range s.Errors {
			if code == e.Code {
				body, _ := json.Marshal(map[string]any{"error": e})
				return &Response{Status: 422, Headers: map[string]string{}, Body: body, Error: e}
			}
		}
		r := problem(500, "undeclared-error-code", "the handler of "+where+" answered with an undeclared error")
		r.Exception = e
		return r
	}
	r := &Response{Status: 200, Headers: map[string]string{}}
	r.Body, _ = json.Marshal(env["body"])
	if status, ok := env["status"].(json.Number); ok {
		n, _ := status.Int64()
		r.Status = int(n)
	}
	if headers, ok := env["headers"].(map[string]any); ok {
		for name, v := range headers {
			r.Headers[name], _ = v.(string)
		}
	}
	r.AttributionExtra, _ = env["attribution_extra"].(map[string]any)
	return r
}

// Ping pings a connection of the runtime and waits for its pong.
func (d *Daemon) Ping() error {
	d.mu.Lock()
	if len(d.peers) == 0 {
		d.mu.Unlock()
		return errors.New("agtptest: no connection")
	}
	p := d.peers[0]
	d.mu.Unlock()
	if err := p.send(frame{"type": "ping", "nonce": "agtptest"}); err != nil {
		return err
	}
	select {
	case nonce := <-p.pongs:
		if nonce != "agtptest" {
			return fmt.Errorf("agtptest: pong with nonce %q", nonce)
		}
		return nil
	case <-time.After(handshakeTimeout):
		return errors.New("agtptest: no pong")
	}
}

// Close stops the runtime as a SIGTERM would: its connections finish what is in flight
// and say goodbye. It returns what Serve returned.
func (d *Daemon) Close() error {
	d.mu.Lock()
	already := d.closing
	d.closing = true
	d.notifyLocked()
	d.mu.Unlock()
	if !already {
		d.stop()
		d.serveErr = <-d.served
		d.listener.Close()
		os.RemoveAll(d.dir)
	}
	return d.serveErr
}
