"""A local stand-in for an OpenAI-style endpoint: the server and the reply helpers the API tests' handlers share —
ordinary replies, replies trickled a byte a second, chat replies of any content shape, and scripted endpoints."""

from __future__ import annotations

import json
import threading
import time
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
    # shutdown() waits for the loop's next poll: at the default 0.5 s every test's teardown would wait that long
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}/v1"


def reply_slowly(handler: BaseHTTPRequestHandler, status: int, payload: bytes, *, every_s: float = 1.0,
                 head_too: bool = False) -> None:
    """Send a response one byte every ``every_s`` seconds — the body only, or (``head_too``) the status line and
    headers as well — until it is sent or the client hangs up: a trickle that keeps every socket read alive."""
    head = (f"HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
            .encode())
    slow = head + payload if head_too else payload
    try:
        if not head_too:
            handler.wfile.write(head)
        for i in range(len(slow)):
            handler.wfile.write(slow[i:i + 1])
            handler.wfile.flush()
            time.sleep(every_s)
    except (BrokenPipeError, ConnectionResetError):
        pass


def chat_reply(content) -> bytes:
    """A chat-completions reply whose message content is ``content`` (a string, a list of parts, anything)."""
    return json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()


class ScriptedEndpoint:
    """An endpoint whose every POST is answered by ``respond(handler, request_body)``; counts the requests."""

    def __init__(self, respond):
        self.requests = 0
        endpoint = self

        class Handler(EndpointHandler):
            def do_POST(self):
                body = self.read_json()
                endpoint.requests += 1
                respond(self, body)

        self.server, self.base_url = serve(Handler)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
