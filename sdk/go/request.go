package agtp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"
)

// HandlerFunc serves one endpoint. It returns the response body (any value encoding/json
// renders as the endpoint's output), a Reply to set the status or headers too, or an error:
// an *EndpointError is a declared error, anything else (or a panic) becomes
// `handler_exception`. ctx ends at the call's deadline, when the daemon gives up on the
// call, or when its connection closes.
type HandlerFunc func(ctx context.Context, req *Request) (any, error)

// Endpoint is one endpoint as the daemon registered it (PROTOCOL.md §7.1).
type Endpoint struct {
	Method           string   `json:"method"`
	Path             string   `json:"path"`
	HandlerReference string   `json:"handler_reference"`
	Errors           []string `json:"errors"`
	RequiredScopes   []string `json:"required_scopes,omitempty"`
	InputSchemaRef   string   `json:"input_schema_ref"`
	OutputSchemaRef  string   `json:"output_schema_ref"`
}

// Trust is how the daemon established the agent's identity (PROTOCOL.md §8.1).
type Trust struct {
	Verified             bool   `json:"verified"`
	AgentID              string `json:"agent_id"`
	AgentCertFingerprint string `json:"agent_cert_fingerprint"`
	Method               string `json:"method"`
}

// Request is one call: its input, who makes it, and what the daemon knows about it.
type Request struct {
	// GatewayRequestID is the daemon's id for this request on the gateway.
	GatewayRequestID string
	// RequestID is the agent-visible request id (Request-ID), for log correlation.
	RequestID string
	Method    string
	Path      string
	// Params are the path parameters by the template's names, percent-decoded.
	Params   map[string]string
	Endpoint Endpoint

	AgentID         string
	PrincipalID     string
	AgentScopes     []string
	AuthorityScopes []string
	// SessionID and TaskID are "" when the call carried none.
	SessionID string
	TaskID    string
	// Headers are the request headers, names in lower case.
	Headers map[string]string

	// Trust is nil when the daemon sent none.
	Trust                *Trust
	AgentVerified        bool
	AgentCertFingerprint string
	AgentCertExtensions  map[string]any

	// Deadline is when the daemon stops waiting for the answer; zero when it set none.
	Deadline time.Time
	// Input is the request body, already valid against the endpoint's input schema, with
	// the query and path parameters merged in.
	Input json.RawMessage
	// Envelope is the request envelope as received, for fields newer than this package.
	Envelope json.RawMessage

	conn    *conn
	signing sync.Mutex // one signature at a time per request
}

type envelope struct {
	Method               string            `json:"method"`
	Path                 string            `json:"path"`
	Input                json.RawMessage   `json:"input"`
	AgentID              string            `json:"agent_id"`
	PrincipalID          string            `json:"principal_id"`
	AgentScopes          []string          `json:"agent_scopes"`
	AuthorityScope       []string          `json:"authority_scope"`
	SessionID            *string           `json:"session_id"`
	TaskID               *string           `json:"task_id"`
	RequestID            string            `json:"request_id"`
	Headers              map[string]string `json:"headers"`
	AgentVerified        bool              `json:"agent_verified"`
	AgentCertFingerprint *string           `json:"agent_cert_fingerprint"`
	AgentCertExtensions  map[string]any    `json:"agent_cert_extensions"`
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Decode unmarshals the input into v.
func (r *Request) Decode(v any) error {
	if len(r.Input) == 0 || string(r.Input) == "null" {
		return json.Unmarshal([]byte("{}"), v)
	}
	return json.Unmarshal(r.Input, v)
}

// TimeLeft is the time until the deadline: never negative; a very long time when the
// request carried none.
func (r *Request) TimeLeft() time.Duration {
	if r.Deadline.IsZero() {
		return time.Duration(1<<63 - 1)
	}
	if left := time.Until(r.Deadline); left > 0 {
		return left
	}
	return 0
}

// W3C Trace Context: version-traceid-parentid-flags, lower-case hex.
var traceparentPattern = regexp.MustCompile(`^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$`)

func parseTraceparent(value string) (traceID, flags string, ok bool) {
	m := traceparentPattern.FindStringSubmatch(strings.TrimSpace(value))
	if m == nil || m[1] == "ff" || (m[1] == "00" && m[5] != "") ||
		m[2] == strings.Repeat("0", 32) || m[3] == strings.Repeat("0", 16) {
		return "", "", false
	}
	return m[2], m[4], true
}

// Traceparent is the caller's `traceparent` header when it is valid W3C Trace Context,
// else "".
func (r *Request) Traceparent() string {
	if _, _, ok := parseTraceparent(r.Headers["traceparent"]); ok {
		return strings.TrimSpace(r.Headers["traceparent"])
	}
	return ""
}

// Tracestate is the caller's `tracestate` header, when its traceparent is valid.
func (r *Request) Tracestate() string {
	if r.Traceparent() == "" {
		return ""
	}
	return r.Headers["tracestate"]
}

// ChildTraceparent is a `traceparent` for a call this handler makes: the caller's trace
// with a new span id, or a new sampled trace when the caller sent none.
func (r *Request) ChildTraceparent() string {
	traceID, flags, ok := parseTraceparent(r.Headers["traceparent"])
	if !ok {
		traceID, flags = randomHex(16), "01"
	}
	return fmt.Sprintf("00-%s-%s-%s", traceID, randomHex(8), flags)
}

func randomHex(n int) string {
	b := make([]byte, n)
	for {
		if _, err := rand.Read(b); err != nil {
			panic(err)
		}
		for _, c := range b {
			if c != 0 {
				return hex.EncodeToString(b)
			}
		}
	}
}

// Signature is a daemon signature (PROTOCOL.md §9).
type Signature struct {
	Kid       string
	Alg       string
	Signature []byte // 64 bytes of Ed25519
}

// SigningError is why Sign failed. Code is `not_granted` (the daemon has no signing key),
// `signing_unavailable` or `sign_failure` (from the daemon), `request_finished` (the call
// was already answered or abandoned) or `connection_closed`.
type SigningError struct{ Code, Message string }

func (e *SigningError) Error() string { return "signing: " + e.Code + ": " + e.Message }

// Sign has the daemon sign data with its Ed25519 key; the private key never leaves the
// daemon. Signatures of one request are made one at a time.
func (r *Request) Sign(ctx context.Context, data []byte) (*Signature, error) {
	r.signing.Lock()
	defer r.signing.Unlock()
	return r.conn.sign(ctx, r.GatewayRequestID, data)
}

// Reply is a response with more than a body.
type Reply struct {
	// Status is a 2xx status; 0 means 200.
	Status int
	// Headers are added to the agent's response; the daemon drops those it owns.
	Headers map[string]string
	Body    any
	// AttributionExtra goes into the daemon's attribution record of the exchange.
	AttributionExtra map[string]any
}

// EndpointError is one of the endpoint's declared errors: the agent gets 422 with Code,
// Message and Details.
type EndpointError struct {
	Code    string
	Message string
	Details map[string]any
}

func (e *EndpointError) Error() string { return e.Code + ": " + e.Message }
