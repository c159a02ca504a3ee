"""`Runtime`: the handlers of a service; `Server`: the connections that serve them."""

import asyncio
import concurrent.futures
import contextvars
import functools
import inspect
import logging
import os
import random
import re
import signal
import sys
import threading
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Set, Tuple, TypeVar

from .codec import Codec, choose_codec
from .connection import Connection
from .context import Context, Endpoint
from .errors import ConfigError
from .routes import Router, Template
from .settings import Settings, resolve

Handler = Callable[[Any, Context], Any]
F = TypeVar("F", bound=Handler)

EXIT_OK = 0
EXIT_FATAL = 1
EXIT_USAGE = 64
# Reconnection delays after an unexpected close (PROTOCOL.md §10); the last one repeats.
BACKOFF = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
_METHOD = re.compile(r"[A-Za-z]+")

log = logging.getLogger("agtp_runtime")


def backoff(attempt: int) -> float:
    """`BACKOFF[attempt]`, give or take 20%, so that runtimes restarted together do not
    reconnect in lockstep."""
    return BACKOFF[min(attempt, len(BACKOFF) - 1)] * random.uniform(0.8, 1.2)


def _is_async(fn: Callable[..., Any]) -> bool:
    while isinstance(fn, functools.partial):
        fn = fn.func
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))


class Runtime:
    """The handlers of a service. Bind them with the `handler` and `route` decorators, then
    `run()`."""

    def __init__(self, name: str = "python-runtime", version: str = "0.0.0",
                 handlers: Optional[Mapping[str, Handler]] = None) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError("Runtime: `name` must be a non-empty string")
        if not isinstance(version, str) or not version:
            raise TypeError("Runtime: `version` must be a non-empty string")
        self.name = name
        self.version = version
        self._by_reference: Dict[str, Handler] = {}
        self._by_route: Dict[str, Handler] = {}
        for reference, fn in (handlers or {}).items():
            self.handler(reference, fn)

    def handler(self, reference: str, fn: Optional[Handler] = None) -> Any:
        """Binds a function to the endpoints whose `[endpoint.handler] function` is
        `reference`. A decorator, or a call with the function."""
        if not isinstance(reference, str) or not reference:
            raise TypeError("handler(reference): `reference` must be a non-empty string")
        if reference in self._by_reference:
            raise ValueError(f"a handler for `{reference}` is already bound")

        def bind(fn: F) -> F:
            if not callable(fn):
                raise TypeError(f"handler({reference!r}): the handler must be callable")
            self._by_reference[reference] = fn
            return fn

        return bind if fn is None else bind(fn)

    def route(self, method: str, path: str, fn: Optional[Handler] = None) -> Any:
        """Binds a function to the endpoint `method path` (a template such as
        `/rooms/{room_id}`; parameter names do not matter). The reference is tried first."""
        if not isinstance(method, str) or not _METHOD.fullmatch(method):
            raise TypeError("route(method, path): `method` must be a verb such as QUERY")
        if not isinstance(path, str) or not path.startswith("/"):
            raise TypeError("route(method, path): `path` must start with `/`")
        key = f"{method.upper()} {Template(path).shape}"
        if key in self._by_route:
            raise ValueError(f"a handler for `{key}` is already bound")

        def bind(fn: F) -> F:
            if not callable(fn):
                raise TypeError(f"route({key!r}): the handler must be callable")
            self._by_route[key] = fn
            return fn

        return bind if fn is None else bind(fn)

    def bind(self, specs: Sequence[Mapping[str, Any]]) -> Tuple[Router[Any], List[str], List[Dict[str, str]]]:
        """Binds registered endpoints to handlers: (router, resolved, `register_ack` errors)."""
        entries, resolved, failures = [], [], []
        for spec in specs:
            method, path, reference = spec["method"], spec["path"], spec["handler_reference"]
            template = Template(path)
            name = f"{method} {path}"
            fn = self._by_reference.get(reference) or self._by_route.get(f"{method} {template.shape}")
            if fn is None:
                failures.append({"endpoint": name, "reason": "handler_not_found",
                                 "detail": f"no handler for `{reference}` nor for the route {name}"})
                continue
            endpoint = Endpoint(method, path, reference, tuple(spec.get("errors") or ()))
            entries.append((method, template, (fn, _is_async(fn), endpoint)))
            resolved.append(name)
        return Router(entries), resolved, failures

    async def start(self, *, signals: bool = False, **options: Any) -> "Server":
        """Starts serving in the running event loop and returns the `Server` at once.
        `options` are those of `settings.resolve` (socket, pool, connections, ...)."""
        settings = resolve(**options)
        server = Server(self, settings, choose_codec(settings.encoding))
        server.start(signals)
        return server

    async def serve(self, *, signals: bool = True, **options: Any) -> int:
        """Serves until stopped; returns the exit status."""
        server = await self.start(signals=signals, **options)
        return await server.wait()

    def run(self, **options: Any) -> None:
        """Serves until stopped, then exits the process with the exit status: reads the
        command line (`--gateway-socket PATH`) and the `AGTP_*` environment."""
        if not logging.getLogger().handlers:
            logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                                format=f"%(asctime)s %(levelname)s {self.name}: %(message)s")
        options.setdefault("argv", sys.argv[1:])
        try:
            resolve(**options)
            status = asyncio.run(self.serve(**options))
        except ConfigError as error:
            log.error("%s", error)
            sys.exit(EXIT_USAGE)
        _exit(status)


def _exit(status: int) -> None:
    # A synchronous handler still running on a worker thread (its caller gave up on it)
    # would hold the interpreter's exit until it returns; nobody waits for its answer.
    if Server.sync_calls:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)


class Server:
    """The connections of one running runtime, each kept open and reconnected."""

    # Synchronous handlers running on worker threads, in every server of the process.
    sync_calls = 0
    _sync_lock = threading.Lock()

    def __init__(self, runtime: Runtime, settings: Settings, codec: Codec) -> None:
        self.runtime = runtime
        self.settings = settings
        self.codec = codec
        self.module_id = runtime.name
        self.module_version = runtime.version
        self.loop = asyncio.get_running_loop()
        # (manifest_hash, endpoints) of the last registration, offered on reconnect as
        # `hello.cached_manifest_hash` so that the daemon can answer `register_resume`.
        self.cache: Optional[Tuple[str, Any]] = None
        self.status = EXIT_OK
        self._connections: Set[Connection] = set()
        self._slots: List["asyncio.Task[None]"] = []
        self._stopping = asyncio.Event()
        self._ready: "asyncio.Future[None]" = self.loop.create_future()
        self._signals: List[int] = []
        self._executor: Optional[concurrent.futures.ThreadPoolExecutor] = None
        self._done: Optional["asyncio.Future[int]"] = None

    def start(self, signals: bool) -> None:
        if signals:
            for signum in (signal.SIGTERM, signal.SIGINT):
                self.loop.add_signal_handler(signum, self._on_signal, signum)
                self._signals.append(signum)
        self._slots = [self.loop.create_task(self._keep_connected(i)) for i in range(self.settings.connections)]
        self._done = self.loop.create_task(self._finish())

    async def ready(self) -> None:
        """Returns once a connection is registered."""
        await asyncio.shield(self._ready)

    async def wait(self) -> int:
        """Returns the exit status once the runtime stopped."""
        assert self._done is not None
        return await asyncio.shield(self._done)

    async def close(self) -> int:
        """Drains: answers what is in flight, says goodbye, and returns the exit status."""
        self._stop()
        return await self.wait()

    def connection_registered(self, connection: Connection) -> None:
        if not self._ready.done():
            self._ready.set_result(None)

    def run_sync(self, fn: Handler, data: Any, ctx: Context) -> "asyncio.Future[Any]":
        """Runs a synchronous handler on a worker thread."""
        if self._executor is None:
            workers = min(512, self.settings.connections * max(1, self.settings.max_in_flight))
            self._executor = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="agtp-handler")
        call = contextvars.copy_context().run
        with Server._sync_lock:
            Server.sync_calls += 1
        return self.loop.run_in_executor(self._executor, self._call_sync, call, fn, data, ctx)

    @staticmethod
    def _call_sync(call: Callable[..., Any], fn: Handler, data: Any, ctx: Context) -> Any:
        try:
            return call(fn, data, ctx)
        finally:
            with Server._sync_lock:
                Server.sync_calls -= 1

    async def _keep_connected(self, slot: int) -> None:
        attempt = 0
        while not self._stopping.is_set():
            try:
                _, connection = await self.loop.create_unix_connection(lambda: Connection(self), self.settings.socket)
            except OSError as error:
                delay = backoff(attempt)
                attempt += 1
                log.warning("cannot connect to %s: %s; retrying in %.1f s", self.settings.socket, error, delay)
                await self._sleep(delay)
                continue
            self._connections.add(connection)
            if self._stopping.is_set():
                connection.drain()
            await connection.closed
            self._connections.discard(connection)
            if connection.fatal is not None:
                log.error("%s; exiting", connection.fatal)
                self.status = EXIT_FATAL
                self._stop()
                return
            if self._stopping.is_set():
                return
            if connection.registered:
                attempt = 0  # a session that got registered restarts the backoff
            delay = backoff(attempt)
            attempt += 1
            log.info("the connection closed; reconnecting in %.1f s", delay)
            await self._sleep(delay)

    async def _sleep(self, delay: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), delay)
        except asyncio.TimeoutError:
            pass

    async def _finish(self) -> int:
        await asyncio.gather(*self._slots, return_exceptions=True)
        for signum in self._signals:
            self.loop.remove_signal_handler(signum)
        if self._executor is not None:
            self._executor.shutdown(wait=False)
        if not self._ready.done():
            self._ready.set_exception(ConnectionError("the runtime stopped before a connection was registered"))
            self._ready.exception()  # retrieved here, so that nobody awaiting it is no error
        return self.status

    def _stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        for connection in list(self._connections):
            connection.drain()

    def _on_signal(self, signum: int) -> None:
        if self._stopping.is_set():
            log.error("signal %d again: exiting at once", signum)
            sys.stderr.flush()
            os._exit(EXIT_FATAL)
        log.info("signal %d: draining", signum)
        self._stop()
