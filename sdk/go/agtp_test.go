package agtp_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"log"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"agtpd.dev/agtp"
	"agtpd.dev/agtp/agtptest"
)

func quiet(name string) agtp.Info {
	return agtp.Info{Name: name, Version: "1.0.0", Logger: log.New(io.Discard, "", 0)}
}

func start(t *testing.T, app *agtp.Runtime, opts agtptest.Options) *agtptest.Daemon {
	t.Helper()
	d, err := agtptest.Start(app, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("the runtime stopped with %v", err)
		}
	})
	return d
}

func call(t *testing.T, d *agtptest.Daemon, method, path string, input any, c *agtptest.Call) *agtptest.Response {
	t.Helper()
	r, err := d.Call(method, path, input, c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRequestFieldsAndDecode(t *testing.T) {
	app := agtp.NewRuntime(quiet("fields"))
	app.Handle("rooms.book", func(ctx context.Context, req *agtp.Request) (any, error) {
		var in struct {
			RoomID string `json:"room_id"`
			Guest  string `json:"guest_name"`
			Nights string `json:"nights"`
		}
		if err := req.Decode(&in); err != nil {
			return nil, err
		}
		deadline, ok := ctx.Deadline()
		return map[string]any{
			"in": in, "params": req.Params, "agent": req.AgentID, "principal": req.PrincipalID,
			"scopes": req.AgentScopes, "authority": req.AuthorityScopes, "session": req.SessionID,
			"task": req.TaskID, "request_id": req.RequestID, "header": req.Headers["x-trace"],
			"endpoint": req.Endpoint.HandlerReference, "errors": req.Endpoint.Errors,
			"trust": req.Trust.Method, "has_deadline": ok && deadline.Equal(req.Deadline) && req.TimeLeft() > 0,
		}, nil
	})
	d := start(t, app, agtptest.Options{Endpoints: []agtptest.Endpoint{
		{Method: "BOOK", Path: "/rooms/{room_id}", HandlerReference: "rooms.book", Errors: []string{"room_unavailable"}},
	}})
	r := call(t, d, "BOOK", "/rooms/1%2001?nights=3", map[string]any{"guest_name": "Ada"}, &agtptest.Call{
		AgentID: "agent-1", PrincipalID: "ada", AgentScopes: []string{"booking:*"}, AuthorityScopes: []string{"booking:book"},
		SessionID: "s-1", TaskID: "t-1", RequestID: "r-1", Headers: map[string]string{"X-Trace": "yes"},
	})
	if r.Status != 200 {
		t.Fatalf("status %d: %+v %+v", r.Status, r.Error, r.Exception)
	}
	var got map[string]any
	r.Decode(&got)
	want := `{"agent":"agent-1","authority":["booking:book"],"endpoint":"rooms.book","errors":["room_unavailable"],"has_deadline":true,"header":"yes","in":{"guest_name":"Ada","nights":"3","room_id":"1 01"},"params":{"room_id":"1 01"},"principal":"ada","request_id":"r-1","scopes":["booking:*"],"session":"s-1","task":"t-1","trust":"agent_id_header"}`
	if encoded, _ := json.Marshal(got); string(encoded) != want {
		t.Fatalf("got  %s\nwant %s", encoded, want)
	}
}

func TestOutcomes(t *testing.T) {
	app := agtp.NewRuntime(quiet("outcomes"))
	app.Route("FETCH", "/things/{id}", func(ctx context.Context, req *agtp.Request) (any, error) {
		switch req.Params["thing"] {
		case "declared":
			return nil, &agtp.EndpointError{Code: "thing_not_found", Message: "no such thing", Details: map[string]any{"id": 7}}
		case "undeclared":
			return nil, &agtp.EndpointError{Code: "surprise", Message: "not in the list"}
		case "failed":
			return nil, errors.New("the database is down")
		case "panic":
			panic("boom")
		case "reply":
			return &agtp.Reply{Status: 201, Headers: map[string]string{"Location": "/things/1"},
				Body: map[string]int{"id": 1}, AttributionExtra: map[string]any{"cost": 3}}, nil
		}
		return map[string]string{"thing": req.Params["thing"]}, nil
	})
	// Bound by route: parameter names do not matter.
	d := start(t, app, agtptest.Options{Endpoints: []agtptest.Endpoint{
		{Method: "FETCH", Path: "/things/{thing}", Errors: []string{"thing_not_found"}},
	}})
	cases := []struct {
		thing, code string
		status      int
	}{{"plain", "", 200}, {"declared", "thing_not_found", 422}, {"undeclared", "undeclared-error-code", 500},
		{"failed", "handler-exception", 500}, {"panic", "handler-exception", 500}, {"reply", "", 201}}
	for _, c := range cases {
		r := call(t, d, "FETCH", "/things/"+c.thing, nil, nil)
		if r.Status != c.status || (r.Error == nil) != (c.code == "") || (r.Error != nil && r.Error.Code != c.code) {
			t.Errorf("%s: status %d, error %+v", c.thing, r.Status, r.Error)
		}
	}
	r := call(t, d, "FETCH", "/things/declared", nil, nil)
	if r.Error.Message != "no such thing" || r.Error.Details["id"] != json.Number("7") {
		t.Errorf("declared error: %+v", r.Error)
	}
	r = call(t, d, "FETCH", "/things/failed", nil, nil)
	if r.Exception == nil || r.Exception.Message != "the database is down" {
		t.Errorf("exception: %+v", r.Exception)
	}
	r = call(t, d, "FETCH", "/things/reply", nil, nil)
	if r.Headers["Location"] != "/things/1" || string(r.Body) != `{"id":1}` || r.AttributionExtra["cost"] != json.Number("3") {
		t.Errorf("reply: %+v", r)
	}
	if err := d.Ping(); err != nil {
		t.Error(err)
	}
}

func TestUnboundEndpointIsRefused(t *testing.T) {
	app := agtp.NewRuntime(quiet("unbound"))
	_, err := agtptest.Start(app, agtptest.Options{Endpoints: []agtptest.Endpoint{{Method: "QUERY", Path: "/nothing"}}})
	if err == nil {
		t.Fatal("the registration was accepted")
	}
}

func TestDeadlineCancelsAndReconnects(t *testing.T) {
	app := agtp.NewRuntime(quiet("deadline"))
	cancelled := make(chan error, 1)
	app.Route("QUERY", "/slow", func(ctx context.Context, req *agtp.Request) (any, error) {
		<-ctx.Done()
		cancelled <- ctx.Err()
		return nil, ctx.Err()
	})
	app.Route("QUERY", "/fast", func(ctx context.Context, req *agtp.Request) (any, error) { return "ok", nil })
	d := start(t, app, agtptest.Options{Endpoints: []agtptest.Endpoint{{Method: "QUERY", Path: "/slow"}, {Method: "QUERY", Path: "/fast"}}})
	r := call(t, d, "QUERY", "/slow", nil, &agtptest.Call{Deadline: 200 * time.Millisecond})
	if r.Status != 504 {
		t.Fatalf("status %d", r.Status)
	}
	select {
	case err := <-cancelled:
		if err == nil {
			t.Error("the context ended without an error")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the handler's context did not end")
	}
	// The daemon closed the connection; the runtime reconnects after about a second.
	r = call(t, d, "QUERY", "/fast", nil, &agtptest.Call{Deadline: 5 * time.Second})
	if r.Status != 200 || string(r.Body) != `"ok"` {
		t.Fatalf("after reconnecting: %d %s", r.Status, r.Body)
	}
}

func TestMultiplex(t *testing.T) {
	app := agtp.NewRuntime(quiet("multiplex"))
	var mu sync.Mutex
	running, most := 0, 0
	app.Route("QUERY", "/wait", func(ctx context.Context, req *agtp.Request) (any, error) {
		mu.Lock()
		running++
		if running > most {
			most = running
		}
		mu.Unlock()
		time.Sleep(300 * time.Millisecond)
		mu.Lock()
		running--
		mu.Unlock()
		return req.GatewayRequestID, nil
	})
	app.Route("QUERY", "/stuck", func(ctx context.Context, req *agtp.Request) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	d := start(t, app, agtptest.Options{Multiplex: 8, Endpoints: []agtptest.Endpoint{{Method: "QUERY", Path: "/wait"}, {Method: "QUERY", Path: "/stuck"}}})
	// An abandoned request on a multiplexed connection leaves the connection open.
	if r := call(t, d, "QUERY", "/stuck", nil, &agtptest.Call{Deadline: 100 * time.Millisecond}); r.Status != 504 {
		t.Fatalf("stuck: %d", r.Status)
	}
	began := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r, err := d.Call("QUERY", "/wait", nil, nil); err != nil || r.Status != 200 {
				t.Errorf("%v %+v", err, r)
			}
		}()
	}
	wg.Wait()
	if most != 8 {
		t.Errorf("at most %d requests ran at once on one connection", most)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("8 concurrent 300 ms calls took %v", took)
	}
}

func TestSigning(t *testing.T) {
	app := agtp.NewRuntime(quiet("signing"))
	app.Route("SIGN", "/receipts", func(ctx context.Context, req *agtp.Request) (any, error) {
		sig, err := req.Sign(ctx, []byte("receipt 1"))
		if err != nil {
			var se *agtp.SigningError
			if errors.As(err, &se) {
				return map[string]string{"code": se.Code}, nil
			}
			return nil, err
		}
		return map[string]any{"kid": sig.Kid, "alg": sig.Alg, "signature": sig.Signature}, nil
	})
	endpoints := []agtptest.Endpoint{{Method: "SIGN", Path: "/receipts"}}
	d := start(t, app, agtptest.Options{Signing: true, Endpoints: endpoints})
	var got struct {
		Kid, Alg  string
		Signature []byte
	}
	if err := call(t, d, "SIGN", "/receipts", nil, nil).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.Alg != "Ed25519" || !ed25519.Verify(d.PublicKey, []byte("receipt 1"), got.Signature) {
		t.Fatalf("bad signature %+v", got)
	}

	unsigned := start(t, app, agtptest.Options{Endpoints: endpoints})
	if r := call(t, unsigned, "SIGN", "/receipts", nil, nil); string(r.Body) != `{"code":"not_granted"}` {
		t.Fatalf("without a key: %s", r.Body)
	}
}

func TestCloseDrainsRequestsInFlight(t *testing.T) {
	app := agtp.NewRuntime(quiet("drain"))
	entered := make(chan struct{})
	app.Route("QUERY", "/slow", func(ctx context.Context, req *agtp.Request) (any, error) {
		close(entered)
		time.Sleep(300 * time.Millisecond)
		return "done", ctx.Err()
	})
	d, err := agtptest.Start(app, agtptest.Options{Connections: 2, Endpoints: []agtptest.Endpoint{{Method: "QUERY", Path: "/slow"}}})
	if err != nil {
		t.Fatal(err)
	}
	answered := make(chan *agtptest.Response, 1)
	go func() {
		r, _ := d.Call("QUERY", "/slow", nil, nil)
		answered <- r
	}()
	<-entered
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if r := <-answered; r.Status != 200 || string(r.Body) != `"done"` {
		t.Fatalf("the request in flight got %d %s", r.Status, r.Body)
	}
}

func TestSettingsFromEnv(t *testing.T) {
	env := func(vars map[string]string) func(string) string {
		return func(name string) string { return vars[name] }
	}
	s, err := agtp.SettingsFromEnv([]string{"--gateway-socket", "/flag.sock"}, env(map[string]string{
		"AGTP_GATEWAY_SOCKET": "/env.sock", "AGTP_POOL": "billing", "AGTP_CONNECTIONS": "3", "AGTP_MAX_IN_FLIGHT": "0",
	}))
	if err != nil || s.Socket != "/flag.sock" || s.Pool != "billing" || s.Connections != 3 || s.MaxInFlight != 1 {
		t.Fatalf("%+v %v", s, err)
	}
	bad := []struct {
		args []string
		vars map[string]string
	}{
		{nil, map[string]string{}},
		{[]string{"--verbose"}, map[string]string{"AGTP_GATEWAY_SOCKET": "/s"}},
		{[]string{"--gateway-socket"}, map[string]string{}},
		{nil, map[string]string{"AGTP_GATEWAY_SOCKET": "/s", "AGTP_CONNECTIONS": "0"}},
		{nil, map[string]string{"AGTP_GATEWAY_SOCKET": "/s", "AGTP_MAX_IN_FLIGHT": "5000"}},
		{nil, map[string]string{"AGTP_GATEWAY_SOCKET": "/s", "AGTP_ENCODING": "xml"}},
	}
	for _, b := range bad {
		var usage *agtp.UsageError
		if _, err := agtp.SettingsFromEnv(b.args, env(b.vars)); !errors.As(err, &usage) {
			t.Errorf("%v %v: %v", b.args, b.vars, err)
		}
	}
}

// TestRunExitsWithUsageStatus runs Run in a child process (this test binary again).
func TestRunExitsWithUsageStatus(t *testing.T) {
	if os.Getenv("AGTP_TEST_RUN") == "1" {
		agtp.NewRuntime(quiet("usage")).Run()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRunExitsWithUsageStatus$")
	cmd.Env = append(os.Environ(), "AGTP_TEST_RUN=1", "AGTP_GATEWAY_SOCKET=")
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != agtp.ExitUsage {
		t.Fatalf("exit: %v", err)
	}
}
