"""A local stand-in for an OpenAI-style endpoint: the server and the reply helper the API tests' handlers share."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def reply(handler: BaseHTTPRequestHandler, status: int, payload: bytes, headers: dict | None = None) -> None:
    """Send one response; a client that timed out or was killed has gone away, which is not an error here."""
    try:
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)
    except (BrokenPipeError, ConnectionResetError):
        pass


class EndpointHandler(BaseHTTPRequestHandler):
    """A handler that logs nothing, reads JSON bodies and replies through ``reply``."""

    def log_message(self, *args):
        pass

    def read_json(self):
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def send(self, status: int, payload: bytes, headers: dict | None = None) -> None:
        reply(self, status, payload, headers)


def serve(handler_class: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    """The handler on a free loopback port, in a daemon thread; returns the server and its /v1 base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}/v1"
