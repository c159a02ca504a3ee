"""The process boundary: the runner, exit statuses, SIGTERM."""

import asyncio
import json
import os
import signal
import sys
import tempfile
import unittest

from helpers import SRC

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
ENDPOINTS = [
    {"method": "QUERY", "path": "/greetings/{name}", "handler_reference": "hello.greet", "input_schema_ref": "#/schemas/i",
     "output_schema_ref": "#/schemas/o", "errors": []},
    {"method": "QUERY", "path": "/slow", "handler_reference": "hello.slow", "input_schema_ref": "#/schemas/i",
     "output_schema_ref": "#/schemas/o", "errors": []},
]


def frame(value):
    payload = json.dumps(value).encode()
    return len(payload).to_bytes(4, "big") + payload


async def read_frame(reader):
    length = int.from_bytes(await reader.readexactly(4), "big")
    return json.loads(await reader.readexactly(length))


class ProcessTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.socket = os.path.join(self.dir.name, "gateway.sock")
        self.connections = asyncio.Queue()

        async def accept(reader, writer):
            await self.connections.put((reader, writer))

        self.listener = await asyncio.start_unix_server(accept, self.socket)

    async def asyncTearDown(self):
        self.listener.close()
        self.dir.cleanup()

    async def spawn(self, *args, **env):
        environment = dict(os.environ, PYTHONPATH=os.pathsep.join([SRC, FIXTURES]), AGTP_ENCODING="json",
                           AGTP_CONNECTIONS="1", **env)
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agtp_runtime", *args, env=environment,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)

    async def register(self, endpoints=ENDPOINTS):
        reader, writer = await asyncio.wait_for(self.connections.get(), 10)
        hello = await read_frame(reader)
        self.assertEqual(hello["type"], "hello")
        writer.write(frame({"type": "welcome", "gateway_version": "1.0", "daemon": {"version": "t", "server_id": "t"},
                            "capabilities": ["registered_function"]}))
        writer.write(frame({"type": "register", "manifest_hash": "sha256:" + "0" * 64, "endpoints": endpoints,
                            "schemas": {}}))
        return reader, writer, await read_frame(reader)

    async def test_a_usage_error_exits_64(self):
        for args, env in [(["--handlers", "greeter"], {"AGTP_GATEWAY_SOCKET": ""}),
                          (["--handlers", "greeter", "--bogus", "x"], {"AGTP_GATEWAY_SOCKET": self.socket}),
                          ([], {"AGTP_GATEWAY_SOCKET": self.socket})]:
            process = await self.spawn(*args, **env)
            await process.communicate()
            self.assertEqual(process.returncode, 64, args)

    async def test_sigterm_drains_then_exits_0(self):
        process = await self.spawn("--handlers", "greeter", "--gateway-socket", self.socket)
        reader, writer, ack = await self.register()
        self.assertEqual(ack, {"type": "register_ack", "ok": True,
                               "resolved": ["QUERY /greetings/{name}", "QUERY /slow"]})
        writer.write(frame({"type": "request", "request_id": "r1", "deadline_ms": 5000,
                            "envelope": {"method": "QUERY", "path": "/slow", "input": {"seconds": 0.5}}}))
        await asyncio.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        goodbye = await read_frame(reader)
        self.assertEqual(goodbye["type"], "goodbye")
        response = await read_frame(reader)
        self.assertEqual(response["envelope"], {"body": {"slept": 0.5}})
        writer.close()
        self.assertEqual(await asyncio.wait_for(process.wait(), 10), 0)

    async def test_an_unbound_endpoint_exits_1(self):
        process = await self.spawn("--handlers", "greeter", "--gateway-socket", self.socket)
        unbound = dict(ENDPOINTS[0], path="/nothing", handler_reference="no.such")
        _, writer, ack = await self.register(ENDPOINTS + [unbound])
        self.assertFalse(ack["ok"])
        self.assertEqual(ack["errors"][0]["endpoint"], "QUERY /nothing")
        self.assertEqual(await asyncio.wait_for(process.wait(), 10), 1)
        writer.close()

    async def test_an_unsupported_version_exits_1(self):
        process = await self.spawn("--handlers", "greeter", "--gateway-socket", self.socket)
        reader, writer = await asyncio.wait_for(self.connections.get(), 10)
        await read_frame(reader)
        writer.write(frame({"type": "error", "code": "gateway_version_unsupported", "message": "no"}))
        self.assertEqual(await asyncio.wait_for(process.wait(), 10), 1)
        writer.close()

    async def test_a_second_sigterm_exits_1_at_once(self):
        process = await self.spawn("--handlers", "greeter", "--gateway-socket", self.socket)
        reader, writer, _ = await self.register()
        writer.write(frame({"type": "request", "request_id": "r1", "deadline_ms": 30000,
                            "envelope": {"method": "QUERY", "path": "/slow", "input": {"seconds": 20}}}))
        await asyncio.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        self.assertEqual((await read_frame(reader))["type"], "goodbye")
        process.send_signal(signal.SIGTERM)
        self.assertEqual(await asyncio.wait_for(process.wait(), 5), 1)
        writer.close()

    async def test_reconnects_and_offers_the_cached_hash(self):
        process = await self.spawn("--handlers", "greeter", "--gateway-socket", self.socket)
        _, writer, _ = await self.register()
        writer.close()
        reader, writer = await asyncio.wait_for(self.connections.get(), 10)
        hello = await read_frame(reader)
        self.assertEqual(hello["cached_manifest_hash"], "sha256:" + "0" * 64)
        writer.write(frame({"type": "welcome", "gateway_version": "1.0", "daemon": {"version": "t", "server_id": "t"}}))
        writer.write(frame({"type": "register_resume", "manifest_hash": "sha256:" + "0" * 64}))
        ack = await read_frame(reader)
        self.assertEqual(ack["resolved"], ["QUERY /greetings/{name}", "QUERY /slow"])
        process.send_signal(signal.SIGTERM)
        self.assertEqual((await read_frame(reader))["type"], "goodbye")
        writer.close()
        self.assertEqual(await asyncio.wait_for(process.wait(), 10), 0)
