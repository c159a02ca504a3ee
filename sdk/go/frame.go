package agtp

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
)

// MaxFrameBytes is the daemon's default frame limit (PROTOCOL.md §2), and this package's.
const MaxFrameBytes = 16 << 20

// ProtocolVersion is the gateway protocol version this package speaks.
const ProtocolVersion = "1.0"

// protocolError: the peer sent something this runtime cannot accept. Code is the `error`
// frame's code (PROTOCOL.md §11) sent back before closing.
type protocolError struct{ code, message string }

func (e *protocolError) Error() string { return e.code + ": " + e.message }

// inFrame is every frame the daemon sends, as one struct: each type uses some of the
// fields, and unknown fields are ignored (PROTOCOL.md §4).
type inFrame struct {
	Type string `json:"type"`
	// welcome
	GatewayVersion string   `json:"gateway_version"`
	Capabilities   []string `json:"capabilities"`
	MaxInFlight    int      `json:"max_in_flight"`
	Daemon         struct {
		Version string `json:"version"`
	} `json:"daemon"`
	// register, register_resume
	ManifestHash string     `json:"manifest_hash"`
	Endpoints    []Endpoint `json:"endpoints"`
	// request, error
	RequestID  *string         `json:"request_id"`
	Envelope   json.RawMessage `json:"envelope"`
	Trust      *Trust          `json:"trust"`
	DeadlineMs *int64          `json:"deadline_ms"`
	// ping, pong
	Nonce string `json:"nonce"`
	// error, goodbye, sign_error
	Code    string `json:"code"`
	Message string `json:"message"`
	Reason  string `json:"reason"`
	// sign_response
	OperationID  string `json:"operation_id"`
	Kid          string `json:"kid"`
	Alg          string `json:"alg"`
	SignatureB64 string `json:"signature_b64"`
}

type object = map[string]any

// encodeFrame returns the length prefix and JSON payload of f.
func encodeFrame(f any, limit int) ([]byte, error) {
	payload, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	if len(payload) > limit {
		return nil, fmt.Errorf("a %d-byte frame exceeds the %d-byte limit", len(payload), limit)
	}
	out := make([]byte, 4, 4+len(payload))
	binary.BigEndian.PutUint32(out, uint32(len(payload)))
	return append(out, payload...), nil
}

// readPayload reads one frame's payload, checking the length before buffering anything.
// It returns io.EOF when the peer closed between frames.
func readPayload(r io.Reader, limit int) ([]byte, error) {
	var header [4]byte
	if _, err := io.ReadFull(r, header[:]); err != nil {
		return nil, err
	}
	length := binary.BigEndian.Uint32(header[:])
	if length == 0 {
		return nil, &protocolError{"malformed_frame", "zero-length frame"}
	}
	if uint64(length) > uint64(limit) {
		return nil, &protocolError{"frame_too_large", fmt.Sprintf("a %d-byte frame exceeds the %d-byte limit", length, limit)}
	}
	payload := make([]byte, length)
	if _, err := io.ReadFull(r, payload); err != nil {
		return nil, fmt.Errorf("connection closed in the middle of a frame: %w", err)
	}
	return payload, nil
}

func readFrame(r io.Reader, limit int) (*inFrame, error) {
	payload, err := readPayload(r, limit)
	if err != nil {
		return nil, err
	}
	if payload[0] != '{' {
		return nil, &protocolError{"malformed_frame", "the payload is not a JSON object"}
	}
	var f inFrame
	if err := json.Unmarshal(payload, &f); err != nil {
		return nil, &protocolError{"malformed_frame", fmt.Sprintf("bad frame: %v", err)}
	}
	if f.Type == "" {
		return nil, &protocolError{"malformed_frame", "a frame without `type`"}
	}
	return &f, nil
}
