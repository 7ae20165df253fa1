"""A stand-in for the Hugging Face Hub and the book's backup host, on
127.0.0.1.

It answers HEAD and GET on ``/{repo}/resolve/main/{file}`` (the Hub) and
``/backup/{file}`` with ``X-Repo-Commit``, ``ETag`` and
``Content-Length``, and honours ``Range``. Each file name maps to a
behaviour:

- "ok": serves the body;
- "truncate": announces the full length but closes half-way;
  "truncate-once": that on the first GET only, then "ok";
- "slow": serves the body in 20 pieces over about two seconds.

A name it does not know gets 404, and any path under ``/busy/`` gets 503.
Every request is recorded, so a test can assert what was asked for.
"""

import hashlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HUB_PREFIX = "/rasbt/qwen3-from-scratch/resolve/main/"
BACKUP_PREFIX = "/backup/"
FAKE_COMMIT = "0123456789abcdef0123456789abcdef01234567"


class FakeFileServer:
    def __init__(self):
        self.files = {}  # name -> (behaviour, body)
        self.requests = []
        self.seen = set()  # names served once (for the "-once" behaviours)
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
        # shutdown() waits up to one poll interval (0.5 s by default)
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
            daemon=True,
        )

    @property
    def url(self):
        host, port = self.httpd.server_address
        return f"http://{host}:{port}"

    def add(self, name, body=b"", behaviour="ok"):
        self.files[name] = (behaviour, body)

    def _handle(self, handler, send_body):
        self.requests.append((handler.command, handler.path))
        path = handler.path.split("?")[0]
        name = None
        for prefix in (HUB_PREFIX, BACKUP_PREFIX):
            if path.startswith(prefix):
                name = path[len(prefix):]
        behaviour, body = self.files.get(name, ("missing", b""))
        if path.startswith("/busy/"):
            behaviour = "busy"
        if behaviour.endswith("-once") and send_body:
            first = name not in self.seen
            self.seen.add(name)
            behaviour = behaviour.removesuffix("-once") if first else "ok"
        if behaviour in ("missing", "busy"):
            handler.send_response(404 if behaviour == "missing" else 503)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        start = 0
        wanted = handler.headers.get("Range")
        if wanted and int(wanted[6:].split("-")[0]) < len(body):
            start = int(wanted[6:].split("-")[0])
            handler.send_response(206)
            handler.send_header(
                "Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}"
            )
        else:
            handler.send_response(200)
        part = body[start:]
        handler.send_header("Content-Length", str(len(part)))
        handler.send_header("Content-Type", "application/octet-stream")
        handler.send_header("ETag", f'"{hashlib.sha256(body).hexdigest()}"')
        handler.send_header("X-Repo-Commit", FAKE_COMMIT)
        handler.end_headers()
        if not send_body:
            return
        if behaviour == "truncate":
            handler.wfile.write(part[: len(part) // 2])
            handler.wfile.flush()
            handler.close_connection = True
            return
        if behaviour == "slow":
            step = max(1, len(part) // 20)
            for i in range(0, len(part), step):
                handler.wfile.write(part[i:i + step])
                handler.wfile.flush()
                time.sleep(0.1)
            return
        handler.wfile.write(part)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
