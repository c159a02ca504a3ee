#!/usr/bin/env python3
"""A runtime for agtpd's gateway tests: Python 3 standard library only, JSON encoding.

Usage: misbehaving.py MODE [--connections N] [--workers N] [--pool NAME] [--cached-hash HASH]

Connects to $AGTP_GATEWAY_SOCKET (a Unix socket path, or tcp:HOST:PORT), registers, and
serves requests. How it answers is MODE, or the request's `mode` input when present:

  ok                answer {"echoed": <input>, "pid": ..., "conn": ...} with a few headers
  slow-ok           the same after `delay_ms` (default 300) milliseconds; in the other
                    modes a `delay_ms` input delays the answer too
  hang              never answer (keeps reading, so it notices when the daemon closes)
  crash-mid-request exit the whole process right after reading the request
  garbage           write a frame whose payload is not JSON
  wrong-id          answer with another request_id
  oversized         announce a 1 GiB frame
  exception         answer with an `error` frame, code handler_exception
  declared-error    answer endpoint_error `room_unavailable`
  undeclared-error  answer endpoint_error `no_such_code`
  bad-output        answer a body that fails the output schema
  sign              ask the daemon to sign `data` and answer with what it said

Startup modes (the first connection of the process only, then as `ok`):

  stray-ping        send a ping while idle, before any request
  idle-response     send a `response` while idle (out of phase)
  deaf              never answer the daemon's pings (every connection)
  reject            answer register_ack ok:false and exit with status 2
  vanish            once registered, wait 1 s, close every connection and stay alive

With `--workers N` the process is a prefork master: it forks N workers, each serving
`--connections` connections, and waits for them. Every connection reconnects 50 ms after
it closes. Events are appended as JSON lines to
$RUNTIME_LOG when set.
"""

import base64
import json
import os
import socket
import struct
import sys
import threading
import time

LOG_LOCK = threading.Lock()
FIRST = threading.Event()


def log(event, **fields):
    path = os.environ.get("RUNTIME_LOG")
    if not path:
        return
    fields["event"] = event
    with LOG_LOCK, open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(fields) + "\n")


def connect():
    target = os.environ["AGTP_GATEWAY_SOCKET"]
    if target.startswith("tcp:"):
        host, port = target[4:].rsplit(":", 1)
        return socket.create_connection((host.strip("[]"), int(port)))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(target)
    return sock


def send(sock, frame):
    payload = json.dumps(frame, separators=(",", ":")).encode()
    sock.sendall(struct.pack(">I", len(payload)) + payload)


def read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def receive(sock):
    (length,) = struct.unpack(">I", read_exact(sock, 4))
    return json.loads(read_exact(sock, length))


def ok_response(request, conn, status=200):
    envelope = request["envelope"]
    reply = {
        "type": "response",
        "request_id": request["request_id"],
        "envelope": {
            "status": envelope["input"].get("status", status),
            "headers": {
                "X-Handler": "misbehaving",
                "Server-ID": "spoofed",
                "Connection": "close",
                "X-Injected": "a\r\nEvil: 1",
                "Audit-ID": "forged",
                "Attribution-Record": "forged",
                "Cache-Status": "forged",
                "Via": "forged",
            },
            "body": {"echoed": envelope["input"], "pid": os.getpid(), "conn": conn},
        },
    }
    # An `extra` input comes back as the reply's attribution_extra.
    if "extra" in envelope["input"]:
        reply["envelope"]["attribution_extra"] = envelope["input"]["extra"]
    return reply


def answer(sock, request, mode, conn):
    rid = request["request_id"]
    envelope = request["envelope"]
    delay_ms = envelope["input"].get("delay_ms", 300 if mode == "slow-ok" else 0)
    time.sleep(delay_ms / 1000)
    if mode == "crash-mid-request":
        os._exit(3)
    if mode == "hang":
        while True:
            frame = receive(sock)
            log("frame", type=frame["type"], code=frame.get("code"), conn=conn)
    if mode == "garbage":
        sock.sendall(struct.pack(">I", 8) + b"not json")
        return
    if mode == "oversized":
        sock.sendall(struct.pack(">I", 1 << 30))
        return
    if mode == "wrong-id":
        send(sock, {"type": "response", "request_id": rid + "-wrong", "envelope": {"body": {}}})
        return
    if mode == "exception":
        send(sock, {"type": "error", "request_id": rid, "code": "handler_exception",
                    "message": "secret-detail: boom", "details": {"trace": "secret"}})
        return
    if mode in ("declared-error", "undeclared-error"):
        code = "room_unavailable" if mode == "declared-error" else "no_such_code"
        send(sock, {"type": "response", "request_id": rid, "envelope": {"endpoint_error": {
            "code": code, "message": "no room left", "details": {"room": "101"}}}})
        return
    if mode == "bad-output":
        send(sock, {"type": "response", "request_id": rid, "envelope": {"body": {"wrong": True}}})
        return
    if mode == "sign":
        data = envelope["input"].get("data", "").encode()
        send(sock, {"type": "sign_request", "operation_id": "op-1",
                    "data_b64": base64.urlsafe_b64encode(data).decode().rstrip("=")})
        signed = receive(sock)
        reply = ok_response(request, conn)
        reply["envelope"]["body"]["echoed"] = signed
        send(sock, reply)
        return
    send(sock, ok_response(request, conn))


def serve(sock, mode, conn, args):
    hello = {"type": "hello", "gateway_versions": ["9.9", "1.0"],
             "module": {"id": "misbehaving", "version": "0.1", "runtime": "CPython",
                        "pid": os.getpid()},
             "capabilities": ["registered_function", "sign_request"]}
    if args.get("pool"):
        hello["module"]["pool"] = args["pool"]
    if args.get("cached-hash"):
        hello["cached_manifest_hash"] = args["cached-hash"]
    send(sock, hello)
    welcome = receive(sock)
    log("welcome", conn=conn, version=welcome.get("gateway_version"),
        capabilities=welcome.get("capabilities", []))
    registration = receive(sock)
    log(registration["type"], conn=conn, hash=registration.get("manifest_hash"),
        endpoints=registration.get("endpoints"))
    if mode == "reject":
        send(sock, {"type": "register_ack", "ok": False, "errors": [
            {"endpoint": "QUERY /things", "reason": "handler_not_found", "detail": "nothing"}]})
        time.sleep(0.2)
        os._exit(2)
    send(sock, {"type": "register_ack", "ok": True, "resolved": []})
    if mode == "vanish":
        time.sleep(1)
        log("vanish", conn=conn)
        sock.close()
        while True:
            time.sleep(3600)
    first = not FIRST.is_set()
    FIRST.set()
    if first and mode == "stray-ping":
        send(sock, {"type": "ping", "nonce": "stray-1"})
    if first and mode == "idle-response":
        send(sock, {"type": "response", "request_id": "nothing", "envelope": {"body": {}}})
    while True:
        frame = receive(sock)
        kind = frame["type"]
        if kind == "ping":
            log("ping", conn=conn)
            if mode != "deaf":
                send(sock, {"type": "pong", "nonce": frame["nonce"]})
        elif kind == "request":
            log("request", conn=conn, request_id=frame["request_id"], deadline_ms=frame.get("deadline_ms"),
                envelope=frame["envelope"], trust=frame.get("trust"))
            request_mode = frame["envelope"]["input"].get("mode", mode)
            if request_mode in ("stray-ping", "idle-response", "deaf"):
                request_mode = "ok"
            answer(sock, frame, request_mode, conn)
        else:
            log(kind, conn=conn, code=frame.get("code"), nonce=frame.get("nonce"),
                reason=frame.get("reason"), message=frame.get("message"))
            if kind == "goodbye":
                return


def worker(mode, conn, args):
    while True:
        try:
            with connect() as sock:
                serve(sock, mode, conn, args)
        except (OSError, EOFError, ValueError) as error:
            log("closed", conn=conn, error=type(error).__name__)
        time.sleep(0.05)


def main(argv):
    mode, rest = argv[0], argv[1:]
    args = {}
    while rest:
        args[rest[0].lstrip("-")] = rest[1]
        rest = rest[2:]
    workers = int(args.get("workers", "0"))
    if workers:
        prefork(workers)
    threads = [threading.Thread(target=worker, args=(mode, conn, args), daemon=True)
               for conn in range(int(args.get("connections", "1")))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def prefork(workers):
    """A prefork master: returns in each of `workers` children, which serve; the master
    itself never connects, and exits once every child has exited."""
    children = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            return
        children.append(pid)
    log("prefork", master=os.getpid(), workers=children)
    for _ in children:
        os.wait()
    sys.exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
