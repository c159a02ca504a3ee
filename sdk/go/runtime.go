// Package agtp serves AGTP endpoints from Go: a runtime process for the agtpd gateway
// daemon. It speaks the gateway protocol (runtime-protocol/PROTOCOL.md, version 1.0, JSON
// encoding) so that handlers are plain functions of a context and a *Request.
//
//	app := agtp.NewRuntime(agtp.Info{Name: "booking", Version: "1.0.0"})
//	app.Handle("booking.fetch_booking", fetchBooking)
//	app.Run()
package agtp

import (
	"context"
	"errors"
	"fmt"
	"log"
	"math/rand"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Exit statuses of Run.
const (
	ExitOK    = 0
	ExitFatal = 1
	ExitUsage = 64
)

// Reconnection delays after an unexpected close (§10); the last one repeats.
var backoff = []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second}

// Info says who the runtime is, in the daemon's logs.
type Info struct {
	Name    string
	Version string
	// Logger receives the runtime's log; nil means the standard logger's output (stderr)
	// with the prefix "agtp: ".
	Logger *log.Logger
}

// Runtime holds the handlers of a service and serves them.
type Runtime struct {
	info       Info
	logger     *log.Logger
	references map[string]HandlerFunc
	routes     map[string]HandlerFunc // "METHOD /shape/{}" -> handler

	mu    sync.Mutex
	cache *registration // the last registration applied, offered on reconnect (§7.3)
}

type registration struct {
	hash      string
	endpoints []Endpoint
}

// NewRuntime returns a Runtime with no handlers.
func NewRuntime(info Info) *Runtime {
	if info.Name == "" {
		info.Name = "agtp-go"
	}
	if info.Version == "" {
		info.Version = "0.0.0"
	}
	logger := info.Logger
	if logger == nil {
		logger = log.New(os.Stderr, "agtp: ", log.LstdFlags)
	}
	return &Runtime{info: info, logger: logger, references: map[string]HandlerFunc{}, routes: map[string]HandlerFunc{}}
}

// Handle binds the endpoints whose `[endpoint.handler] function` is reference.
func (r *Runtime) Handle(reference string, h HandlerFunc) {
	r.references[reference] = h
}

// Route binds the endpoint with this method and path template; parameter names do not
// matter (`/rooms/{id}` is `/rooms/{room_id}`). A handler reference bound with Handle is
// tried first.
func (r *Runtime) Route(method, path string, h HandlerFunc) {
	r.routes[strings.ToUpper(method)+" "+parseTemplate(path).shape()] = h
}

func (r *Runtime) logf(format string, args ...any) { r.logger.Printf(format, args...) }

func (r *Runtime) cachedRegistration() *registration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cache
}

func (r *Runtime) rememberRegistration(reg *registration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cache = reg
}

func (r *Runtime) forgetRegistration() { r.rememberRegistration(nil) }

// bind finds each endpoint's handler; a failure is a `register_ack.errors` entry (§7.2).
func (r *Runtime) bind(endpoints []Endpoint) ([]*boundEndpoint, []object) {
	var bound []*boundEndpoint
	var failures []object
	for _, e := range endpoints {
		t := parseTemplate(e.Path)
		h, ok := r.references[e.HandlerReference]
		if !ok {
			h, ok = r.routes[e.Method+" "+t.shape()]
		}
		if !ok {
			failures = append(failures, object{
				"endpoint": e.Method + " " + e.Path,
				"reason":   "handler_not_found",
				"detail":   fmt.Sprintf("no handler for `%s` and no route for %s %s", e.HandlerReference, e.Method, e.Path),
			})
			continue
		}
		bound = append(bound, &boundEndpoint{Endpoint: e, template: t, handler: h})
	}
	return bound, failures
}

// answer runs the handler and turns its outcome into a `response` or `error` frame.
func (r *Runtime) answer(ctx context.Context, req *Request, e *boundEndpoint) (frame object) {
	id := req.GatewayRequestID
	defer func() {
		if p := recover(); p != nil {
			r.logf("the handler of %s %s panicked: %v", req.Method, req.Path, p)
			frame = exceptionFrame(id, fmt.Errorf("panic: %v", p))
		}
	}()
	if e == nil {
		return exceptionFrame(id, fmt.Errorf("no endpoint registered for %s %s", req.Method, req.Path))
	}
	result, err := e.handler(ctx, req)
	var declared *EndpointError
	switch {
	case errors.As(err, &declared):
		entry := object{"code": declared.Code, "message": declared.Message}
		if declared.Details != nil {
			entry["details"] = declared.Details
		}
		return object{"type": "response", "request_id": id, "envelope": object{"endpoint_error": entry}}
	case err != nil:
		if ctx.Err() != nil {
			r.logf("request %s (%s %s) stopped: %v", id, req.Method, req.Path, err)
		} else {
			r.logf("the handler of %s %s failed: %v", req.Method, req.Path, err)
		}
		return exceptionFrame(id, err)
	}
	env := object{}
	switch reply := result.(type) {
	case Reply:
		reply.fill(env)
	case *Reply:
		reply.fill(env)
	default:
		env["body"] = result
	}
	return object{"type": "response", "request_id": id, "envelope": env}
}

func (reply *Reply) fill(env object) {
	env["body"] = reply.Body
	if reply.Status != 0 {
		env["status"] = reply.Status
	}
	if reply.Headers != nil {
		env["headers"] = reply.Headers
	}
	if reply.AttributionExtra != nil {
		env["attribution_extra"] = reply.AttributionExtra
	}
}

// Serve keeps s.Connections connections to the daemon open, reconnecting after an
// unexpected close, until ctx ends; then every connection says goodbye, answers what is in
// flight, and Serve returns nil once the daemon closed them. It returns a *FatalError when
// an operator has to fix something, and a *UsageError for bad settings.
func (r *Runtime) Serve(ctx context.Context, s Settings) error {
	s, err := s.withDefaults()
	if err != nil {
		return err
	}
	stopping := make(chan struct{})
	var once sync.Once
	var fatal error
	var mu sync.Mutex
	conns := map[*conn]struct{}{}
	stop := func() {
		once.Do(func() { close(stopping) })
		mu.Lock()
		defer mu.Unlock()
		for c := range conns {
			c.drain()
		}
	}
	go func() {
		select {
		case <-ctx.Done():
			r.logf("stopping: finishing the requests in flight")
			stop()
		case <-stopping:
		}
	}()
	var slots sync.WaitGroup
	for i := 0; i < s.Connections; i++ {
		slots.Add(1)
		go func() {
			defer slots.Done()
			attempt := 0
			var delay time.Duration
			for {
				select {
				case <-stopping:
					return
				case <-time.After(delay):
				}
				sock, err := net.Dial("unix", s.Socket)
				if err != nil {
					delay = jitter(backoff[min(attempt, len(backoff)-1)])
					attempt++
					r.logf("cannot connect to %s: %v; retrying in %v", s.Socket, err, delay.Round(time.Millisecond))
					continue
				}
				c := newConn(r, s, sock)
				mu.Lock()
				conns[c] = struct{}{}
				mu.Unlock()
				select {
				case <-stopping:
					c.drain()
				default:
				}
				err = c.run()
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
				if err != nil {
					r.logf("%v; stopping", err)
					mu.Lock()
					fatal = err
					mu.Unlock()
					go stop()
					return
				}
				if c.registered {
					attempt = 0 // a registered connection restarts the backoff
				}
				if c.reconnectNow {
					delay = 0
					continue
				}
				delay = jitter(backoff[min(attempt, len(backoff)-1)])
				attempt++
			}
		}()
	}
	slots.Wait()
	once.Do(func() { close(stopping) })
	mu.Lock()
	defer mu.Unlock()
	return fatal
}

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}

// jitter spreads reconnections of many processes: d give or take 20%.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// ListenAndServe reads the settings from the command line and the environment
// (SettingsFromEnv) and serves until ctx ends, as Serve does.
func (r *Runtime) ListenAndServe(ctx context.Context) error {
	s, err := SettingsFromEnv(os.Args[1:], os.Getenv)
	if err != nil {
		return err
	}
	return r.Serve(ctx, s)
}

// Run is a runtime's main function: ListenAndServe until SIGTERM or SIGINT, which drain
// the connections, then exit the process with 0; 1 after a fatal error, 64 after a usage
// error. A second signal exits 1 at once.
func (r *Runtime) Run() {
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		sig := <-signals
		r.logf("%v", sig)
		cancel()
		sig = <-signals
		r.logf("%v again: exiting without waiting for the requests in flight", sig)
		os.Exit(ExitFatal)
	}()
	os.Exit(r.exitStatus(r.ListenAndServe(ctx)))
}

func (r *Runtime) exitStatus(err error) int {
	var usage *UsageError
	switch {
	case err == nil:
		r.logf("stopped (exit status 0)")
		return ExitOK
	case errors.As(err, &usage):
		fmt.Fprintf(os.Stderr, "%s: %v\n", r.info.Name, err)
		return ExitUsage
	default:
		r.logf("stopped (exit status 1): %v", err)
		return ExitFatal
	}
}
