package agtp

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Settings say where and how a runtime connects. SettingsFromEnv fills them the usual way.
type Settings struct {
	// Socket is the daemon's gateway socket. Required.
	Socket string
	// Pool is the pool the connections join; "" means "default".
	Pool string
	// Connections is how many connections to keep open; 0 means 2.
	Connections int
	// MaxInFlight is how many requests one connection may carry at once when the daemon
	// grants multiplexing; 0 means 64, 1 turns multiplexing off.
	MaxInFlight int
	// MaxFrameBytes is the largest frame accepted or sent; 0 means MaxFrameBytes.
	MaxFrameBytes int
	// Keepalive is how long a quiet connection waits before pinging the daemon; 0 means 60 s.
	Keepalive time.Duration
}

const maxInFlightLimit = 4096 // §6.1

// UsageError reports bad settings; a program exits 64 on it.
type UsageError struct{ Message string }

func (e *UsageError) Error() string { return e.Message }

// SettingsFromEnv reads `--gateway-socket PATH` from args (the flag wins) and
// AGTP_GATEWAY_SOCKET, AGTP_POOL, AGTP_CONNECTIONS, AGTP_MAX_IN_FLIGHT and AGTP_ENCODING
// from getenv. Only the JSON encoding is spoken, so AGTP_ENCODING may be `auto` or `json`.
func SettingsFromEnv(args []string, getenv func(string) string) (Settings, error) {
	s := Settings{Socket: getenv("AGTP_GATEWAY_SOCKET"), Pool: getenv("AGTP_POOL")}
	for i := 0; i < len(args); i++ {
		name, value, hasValue := strings.Cut(args[i], "=")
		if name != "--gateway-socket" {
			return s, &UsageError{fmt.Sprintf("unknown argument `%s`", args[i])}
		}
		if !hasValue && i+1 < len(args) {
			i++
			value, hasValue = args[i], true
		}
		if !hasValue || value == "" {
			return s, &UsageError{"`--gateway-socket` needs a value"}
		}
		s.Socket = value
	}
	if s.Socket == "" {
		return s, &UsageError{"no gateway socket: set AGTP_GATEWAY_SOCKET or pass --gateway-socket PATH"}
	}
	var err error
	if s.Connections, err = intSetting(getenv, "AGTP_CONNECTIONS", 1, 1024); err != nil {
		return s, err
	}
	if s.MaxInFlight, err = intSetting(getenv, "AGTP_MAX_IN_FLIGHT", 0, maxInFlightLimit); err != nil {
		return s, err
	}
	if s.MaxInFlight == 0 && getenv("AGTP_MAX_IN_FLIGHT") != "" {
		s.MaxInFlight = 1 // `0` says "no multiplexing", not "the default"
	}
	switch encoding := getenv("AGTP_ENCODING"); encoding {
	case "", "auto", "json":
	case "msgpack":
		return s, &UsageError{"AGTP_ENCODING=msgpack: this runtime speaks only JSON"}
	default:
		return s, &UsageError{fmt.Sprintf("AGTP_ENCODING must be auto, json or msgpack, not `%s`", encoding)}
	}
	return s, nil
}

func intSetting(getenv func(string) string, name string, min, max int) (int, error) {
	text := getenv(name)
	if text == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(text)
	if err != nil || n < min || n > max || strings.HasPrefix(text, "+") {
		return 0, &UsageError{fmt.Sprintf("%s must be an integer from %d to %d, not `%s`", name, min, max, text)}
	}
	return n, nil
}

// withDefaults checks s and fills in its zero fields.
func (s Settings) withDefaults() (Settings, error) {
	if s.Socket == "" {
		return s, &UsageError{"no gateway socket"}
	}
	if s.Pool == "" {
		s.Pool = "default"
	}
	if s.Connections == 0 {
		s.Connections = 2
	}
	if s.MaxInFlight == 0 {
		s.MaxInFlight = 64
	}
	if s.MaxFrameBytes == 0 {
		s.MaxFrameBytes = MaxFrameBytes
	}
	if s.Keepalive == 0 {
		s.Keepalive = 60 * time.Second
	}
	switch {
	case s.Connections < 0 || s.Connections > 1024:
		return s, &UsageError{fmt.Sprintf("Connections must be from 1 to 1024, not %d", s.Connections)}
	case s.MaxInFlight < 0 || s.MaxInFlight > maxInFlightLimit:
		return s, &UsageError{fmt.Sprintf("MaxInFlight must be from 1 to %d, not %d", maxInFlightLimit, s.MaxInFlight)}
	case s.MaxFrameBytes < 1024:
		return s, &UsageError{fmt.Sprintf("MaxFrameBytes must be at least 1024, not %d", s.MaxFrameBytes)}
	}
	return s, nil
}
