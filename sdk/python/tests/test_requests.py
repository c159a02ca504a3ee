import asyncio
import datetime
import threading
import unittest

from helpers import SRC  # noqa: F401

from agtp_runtime import EndpointError, Reply, Runtime, SigningError
from agtp_runtime.testing import RegistrationRefused, TestDaemon

ENDPOINTS = [
    {"method": "QUERY", "path": "/greetings/{name}", "handler_reference": "hello.greet"},
    {"method": "BOOK", "path": "/rooms/{room_id}", "handler_reference": "booking.book", "errors": ["room_unavailable"]},
    {"method": "QUERY", "path": "/rooms/availability", "handler_reference": "booking.availability"},
    {"method": "FETCH", "path": "/boom", "handler_reference": "boom"},
    {"method": "QUERY", "path": "/slow", "handler_reference": "slow"},
    {"method": "QUERY", "path": "/blocking", "handler_reference": "blocking"},
    {"method": "QUERY", "path": "/context", "handler_reference": "context"},
    {"method": "SIGN", "path": "/receipts", "handler_reference": "sign"},
    {"method": "QUERY", "path": "/dates", "handler_reference": "dates"},
]


def make_app():
    app = Runtime(name="test-app", version="1.2.3")
    app.state = {"cancelled": asyncio.Event(), "blocking_cancelled": threading.Event()}

    @app.handler("hello.greet")
    async def greet(input, ctx):
        return {"greeting": f"Hello, {input['name']}!"}

    @app.route("BOOK", "/rooms/{id}")
    def book(input, ctx):
        if input["room_id"] == "999":
            raise EndpointError("room_unavailable", "room 999 is taken", {"room_id": "999"})
        if input["room_id"] == "undeclared":
            raise EndpointError("nope", "not declared")
        return Reply({"booking": input["room_id"], "thread": threading.current_thread().name}, status=201,
                     headers={"Location": f"/bookings/{input['room_id']}"}, attribution_extra={"room": input["room_id"]})

    @app.handler("booking.availability")
    async def availability(input, ctx):
        return {"rooms": ["101"]}

    @app.handler("boom")
    async def boom(input, ctx):
        raise RuntimeError("kaboom")

    @app.handler("slow")
    async def slow(input, ctx):
        try:
            await asyncio.sleep(input.get("seconds", 10))
        except asyncio.CancelledError:
            app.state["cancelled"].set()
            raise
        return {"slept": input.get("seconds", 10)}

    @app.handler("blocking")
    def blocking(input, ctx):
        if ctx.cancelled.wait(5):
            app.state["blocking_cancelled"].set()
        return {}

    @app.handler("context")
    async def context(input, ctx):
        return {
            "agent_id": ctx.agent_id, "principal_id": ctx.principal_id, "agent_scopes": ctx.agent_scopes,
            "authority_scopes": ctx.authority_scopes, "session_id": ctx.session_id, "task_id": ctx.task_id,
            "request_id": ctx.request_id, "gateway": ctx.gateway_request_id.startswith("gw-"),
            "method": ctx.method, "path": ctx.path, "endpoint": ctx.endpoint.handler_reference,
            "headers": dict(ctx.headers), "trust": ctx.trust.method, "verified": ctx.agent_verified,
            "fingerprint": ctx.agent_cert_fingerprint, "extensions": dict(ctx.agent_cert_extensions),
            "deadline_ms": ctx.deadline_ms, "time_left": 0 < ctx.time_left() <= 5,
            "traceparent": ctx.traceparent, "child": ctx.child_traceparent(),
        }

    @app.handler("dates")
    async def dates(input, ctx):
        return {"day": datetime.date(2027, 1, 2), "pair": (1, 2), "child": ctx.child_traceparent()}

    @app.handler("sign")
    async def sign(input, ctx):
        signature = await ctx.sign(input["text"])
        return {"kid": signature.kid, "alg": signature.alg, "signature": signature.signature.hex()}

    return app


class RequestsTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.app = make_app()
        self.daemon = await TestDaemon.start(self.app, ENDPOINTS, encoding="json")

    async def asyncTearDown(self):
        self.assertEqual(await self.daemon.close(), 0)

    async def test_a_body(self):
        response = await self.daemon.call("QUERY", "/greetings/Ada")
        self.assertEqual((response.status, response.body), (200, {"greeting": "Hello, Ada!"}))

    async def test_a_reply_from_a_sync_handler_on_a_thread(self):
        response = await self.daemon.call("BOOK", "/rooms/101", {"guest": "Ada"})
        self.assertEqual(response.status, 201)
        self.assertEqual(response.body["booking"], "101")
        self.assertTrue(response.body["thread"].startswith("agtp-handler"))
        self.assertEqual(response.headers, {"Location": "/bookings/101"})
        self.assertEqual(response.attribution_extra, {"room": "101"})

    async def test_a_literal_route_wins(self):
        response = await self.daemon.call("QUERY", "/rooms/availability")
        self.assertEqual(response.body, {"rooms": ["101"]})

    async def test_declared_and_undeclared_errors(self):
        response = await self.daemon.call("BOOK", "/rooms/999")
        self.assertEqual(response.status, 422)
        self.assertEqual(response.error, {"code": "room_unavailable", "message": "room 999 is taken",
                                          "details": {"room_id": "999"}})
        response = await self.daemon.call("BOOK", "/rooms/undeclared")
        self.assertEqual((response.status, response.error["code"]), (500, "undeclared-error-code"))

    async def test_an_exception_and_the_connection_stays_usable(self):
        with self.assertLogs("agtp_runtime", "ERROR"):
            response = await self.daemon.call("FETCH", "/boom")
        self.assertEqual((response.status, response.error), (500, {"code": "handler-exception"}))
        self.assertIn("RuntimeError: kaboom", response.exception["message"])
        self.assertIn("kaboom", response.exception["details"]["traceback"])
        self.assertEqual((await self.daemon.call("QUERY", "/greetings/Bo")).status, 200)

    async def test_the_context(self):
        trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        response = await self.daemon.call(
            "QUERY", "/context", headers={"Traceparent": trace}, agent_id="agent-1", principal_id="p",
            agent_scopes=["a"], authority_scopes=["b"], session_id="s", task_id="t", request_id="r-1",
            agent_verified=True, agent_cert_fingerprint="ff", agent_cert_extensions={"e": 1}, deadline_ms=5000)
        body = response.body
        self.assertEqual(body["agent_id"], "agent-1")
        self.assertEqual((body["agent_scopes"], body["authority_scopes"]), (["a"], ["b"]))
        self.assertEqual((body["session_id"], body["task_id"], body["request_id"]), ("s", "t", "r-1"))
        self.assertTrue(body["gateway"])
        self.assertEqual((body["method"], body["path"], body["endpoint"]), ("QUERY", "/context", "context"))
        self.assertEqual(body["headers"], {"traceparent": trace})
        self.assertEqual((body["trust"], body["verified"], body["fingerprint"]), ("agent_cert_mtls", True, "ff"))
        self.assertEqual(body["extensions"], {"e": 1})
        self.assertEqual(body["deadline_ms"], 5000)
        self.assertTrue(body["time_left"])
        self.assertEqual(body["traceparent"], trace)
        self.assertTrue(body["child"].startswith("00-0af7651916cd43dd8448eb211c80319c-"))
        self.assertNotIn("b7ad6b7169203331", body["child"])

    async def test_dates_become_strings_and_a_new_trace_starts(self):
        body = (await self.daemon.call("QUERY", "/dates")).body
        self.assertEqual((body["day"], body["pair"]), ("2027-01-02", [1, 2]))
        self.assertRegex(body["child"], r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")

    async def test_a_deadline_cancels_an_async_handler(self):
        response = await self.daemon.call("QUERY", "/slow", {"seconds": 10}, deadline_ms=200)
        self.assertEqual((response.status, response.error["code"]), (504, "handler-timeout"))
        await asyncio.wait_for(self.app.state["cancelled"].wait(), 2)
        # As agtpd does, the test daemon closed the connection; the runtime reconnects.
        response = await self.daemon.call("QUERY", "/greetings/Ada", deadline_ms=5000)
        self.assertEqual(response.status, 200)
        self.assertEqual(self.daemon.hellos[-1]["cached_manifest_hash"], self.daemon.manifest_hash)

    async def test_a_deadline_sets_cancelled_for_a_sync_handler(self):
        response = await self.daemon.call("QUERY", "/blocking", deadline_ms=200)
        self.assertEqual(response.status, 504)
        self.assertTrue(await asyncio.to_thread(self.app.state["blocking_cancelled"].wait, 2))

    async def test_signing_not_granted(self):
        with self.assertLogs("agtp_runtime", "ERROR"):
            response = await self.daemon.call("SIGN", "/receipts", {"text": "x"})
        self.assertEqual(response.status, 500)
        self.assertIn("SigningError", response.exception["message"])

    async def test_ping(self):
        await asyncio.wait_for(self.daemon.ping(), 2)

    async def test_hello(self):
        hello = self.daemon.hellos[0]
        self.assertEqual(hello["gateway_versions"], ["1.0"])
        self.assertEqual((hello["module"]["id"], hello["module"]["version"]), ("test-app", "1.2.3"))
        self.assertIn("multiplex", hello["capabilities"])


class MultiplexTest(unittest.IsolatedAsyncioTestCase):
    async def test_answers_in_any_order_on_one_connection(self):
        app = make_app()
        async with await TestDaemon.start(app, ENDPOINTS, multiplex=8) as daemon:
            slow = asyncio.ensure_future(daemon.call("QUERY", "/slow", {"seconds": 0.3}))
            await asyncio.sleep(0.05)
            fast = await daemon.call("QUERY", "/greetings/Ada")
            self.assertEqual(fast.status, 200)
            self.assertFalse(slow.done())
            self.assertEqual((await slow).body, {"slept": 0.3})

    async def test_an_abandoned_request_frees_its_slot(self):
        app = make_app()
        async with await TestDaemon.start(app, ENDPOINTS, multiplex=2) as daemon:
            response = await daemon.call("QUERY", "/slow", {"seconds": 10}, deadline_ms=200)
            self.assertEqual(response.status, 504)
            await asyncio.wait_for(app.state["cancelled"].wait(), 2)
            responses = await asyncio.gather(*(daemon.call("QUERY", f"/greetings/{n}") for n in range(4)))
            self.assertEqual([r.status for r in responses], [200] * 4)
            self.assertEqual(len(daemon.hellos), 1)  # the same connection


class SigningTest(unittest.IsolatedAsyncioTestCase):
    async def test_a_daemon_signature(self):
        try:
            import cryptography  # noqa: F401
        except ImportError:
            self.skipTest("cryptography is not installed")
        async with await TestDaemon.start(make_app(), ENDPOINTS, signing=True) as daemon:
            response = await daemon.call("SIGN", "/receipts", {"text": "receipt"})
            self.assertEqual((response.body["kid"], response.body["alg"]), ("test-key", "Ed25519"))
            daemon.public_key.verify(bytes.fromhex(response.body["signature"]), b"receipt")

    async def test_signing_after_the_answer_fails(self):
        app = Runtime(name="t")
        kept = []

        @app.handler("sign")
        async def sign(input, ctx):
            kept.append(ctx)
            return {}

        async with await TestDaemon.start(app, [{"method": "SIGN", "path": "/receipts", "handler_reference": "sign"}]) as daemon:
            await daemon.call("SIGN", "/receipts")
            with self.assertRaises(SigningError) as caught:
                await kept[0].sign(b"late")
            self.assertEqual(caught.exception.code, "request_finished")


class RegistrationTest(unittest.IsolatedAsyncioTestCase):
    async def test_an_unbound_endpoint_is_refused(self):
        app = make_app()
        with self.assertLogs("agtp_runtime", "ERROR"):
            with self.assertRaises(RegistrationRefused) as caught:
                await TestDaemon.start(app, ENDPOINTS + [{"method": "QUERY", "path": "/x", "handler_reference": "none"}])
        self.assertEqual(caught.exception.errors[0]["endpoint"], "QUERY /x")
        self.assertEqual(caught.exception.errors[0]["reason"], "handler_not_found")

    def test_a_handler_is_bound_once(self):
        app = make_app()
        with self.assertRaises(ValueError):
            app.handler("hello.greet", lambda input, ctx: {})
        with self.assertRaises(ValueError):
            app.route("BOOK", "/rooms/{other}", lambda input, ctx: {})


if __name__ == "__main__":
    unittest.main()
