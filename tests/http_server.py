"""A real HTTP server on 127.0.0.1 that plays the Hub and the backup host.

Each file name maps to a behaviour: "ok" serves the body (and honours Range
requests with 206 Partial Content), "no-range" always sends the whole body,
"missing" answers 404, "truncate" announces the full length but closes
half-way, "truncate-once" does that on the first GET only, and "hang"
accepts the connection and never answers. Every request is recorded (with
its Range header), so a test can assert what was asked for.
"""

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HUB_PREFIX = "/rasbt/qwen3-from-scratch/resolve/main/"
BACKUP_PREFIX = "/backup/"
FAKE_COMMIT = "0123456789abcdef0123456789abcdef01234567"


class FakeFileServer:
    def __init__(self):
        self.files = {}  # name -> (behaviour, body)
        self.requests = []
        self.ranges = []
        self.truncated = set()
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self):
                server._handle(self, send_body=False)

            def do_GET(self):
                server._handle(self, send_body=True)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, daemon=True
        )

    @property
    def url(self):
        host, port = self.httpd.server_address
        return f"http://{host}:{port}"

    def add(self, name, body=b"", behaviour="ok"):
        self.files[name] = (behaviour, body)

    def _handle(self, handler, send_body):
        self.requests.append((handler.command, handler.path))
        self.ranges.append(handler.headers.get("Range"))
        path = handler.path.split("?")[0]
        name = None
        for prefix in (HUB_PREFIX, BACKUP_PREFIX):
            if path.startswith(prefix):
                name = path[len(prefix):]
        behaviour, body = self.files.get(name, ("missing", b""))
        if behaviour == "hang":
            # Bounded: the test's teardown (or 60 s) releases it
            self.release.wait(timeout=60)
            return
        if behaviour == "missing":
            handler.send_response(404)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        if behaviour == "truncate-once" and send_body:
            if name in self.truncated:
                behaviour = "ok"
            else:
                self.truncated.add(name)
                behaviour = "truncate"
        start = 0
        wanted = handler.headers.get("Range")
        if wanted and behaviour == "ok":
            start = int(wanted.removeprefix("bytes=").rstrip("-"))
            handler.send_response(206)
            handler.send_header(
                "Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}"
            )
        else:
            handler.send_response(200)
        body = body[start:]
        handler.send_header("Content-Length", str(len(body)))
        handler.send_header("Content-Type", "application/octet-stream")
        handler.send_header("ETag", f'"{hashlib.sha256(body).hexdigest()}"')
        handler.send_header("X-Repo-Commit", FAKE_COMMIT)
        handler.end_headers()
        if not send_body:
            return
        if behaviour == "truncate":
            handler.wfile.write(body[: len(body) // 2])
            handler.wfile.flush()
            handler.close_connection = True
            return
        handler.wfile.write(body)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
