import unittest

from helpers import SRC  # noqa: F401

from agtp_runtime import ConfigError
from agtp_runtime.routes import Router, Template
from agtp_runtime.settings import resolve


class RouterTest(unittest.TestCase):
    def setUp(self):
        paths = ["/rooms/{room_id}", "/rooms/availability", "/a/{x}/c", "/a/b/{y}", "/caf%C3%A9"]
        self.router = Router([("QUERY", Template(p), p) for p in paths])

    def test_a_literal_beats_a_parameter(self):
        self.assertEqual(self.router.route("QUERY", "/rooms/availability"), ("/rooms/availability", {}))
        self.assertEqual(self.router.route("QUERY", "/rooms/101"), ("/rooms/{room_id}", {"room_id": "101"}))
        self.assertEqual(self.router.route("QUERY", "/a/b/c"), ("/a/b/{y}", {"y": "c"}))

    def test_decodes_and_ignores_the_query(self):
        self.assertEqual(self.router.route("QUERY", "/rooms/a%20b?x=1"), ("/rooms/{room_id}", {"room_id": "a b"}))
        self.assertEqual(self.router.route("QUERY", "/café")[0], "/caf%C3%A9")

    def test_misses(self):
        self.assertIsNone(self.router.route("BOOK", "/rooms/101"))
        self.assertIsNone(self.router.route("QUERY", "/rooms/"))
        self.assertIsNone(self.router.route("QUERY", "/rooms/1/2"))


class SettingsTest(unittest.TestCase):
    def test_defaults_and_environment(self):
        settings = resolve(env={"AGTP_GATEWAY_SOCKET": "/s", "AGTP_CONNECTIONS": "3", "AGTP_MAX_IN_FLIGHT": "0"})
        self.assertEqual((settings.socket, settings.pool, settings.connections, settings.max_in_flight),
                         ("/s", "default", 3, 0))

    def test_code_then_command_line_then_environment(self):
        env = {"AGTP_GATEWAY_SOCKET": "/env", "AGTP_POOL": "p"}
        self.assertEqual(resolve(argv=["--gateway-socket", "/arg"], env=env).socket, "/arg")
        self.assertEqual(resolve(argv=["--gateway-socket=/arg"], env=env).socket, "/arg")
        self.assertEqual(resolve(socket="/code", argv=["--gateway-socket", "/arg"], env=env).socket, "/code")
        self.assertEqual(resolve(env=env).pool, "p")

    def test_usage_errors(self):
        for argv, env in [([], {}), (["--nope"], {"AGTP_GATEWAY_SOCKET": "/s"}),
                          ([], {"AGTP_GATEWAY_SOCKET": "/s", "AGTP_CONNECTIONS": "0"}),
                          ([], {"AGTP_GATEWAY_SOCKET": "/s", "AGTP_MAX_IN_FLIGHT": "x"}),
                          ([], {"AGTP_GATEWAY_SOCKET": "/s", "AGTP_ENCODING": "xml"}),
                          (["--gateway-socket"], {})]:
            with self.assertRaises(ConfigError, msg=(argv, env)):
                resolve(argv=argv, env=env)
