"""A real HTTP server on 127.0.0.1 that plays the Hub and the backup host.

Each file name maps to a behaviour:

- "ok": serves the body, honours Range requests with 206 Partial Content
  (and 416 when the range starts at or after the end), and If-Range: a
  validator that is not the file's current ETag gets the whole file;
- "no-range": always sends the whole body;
- "bad-range": answers a Range request with 206 and the bytes from 0 (a
  Content-Range that does not start where it was asked to);
- "missing": 404; "busy-once": 503 on the first GET, then "ok";
- "truncate": announces the full length but closes half-way;
  "truncate-once": that on the first GET only, then "ok";
- "hang": accepts the connection and never answers;
- "slow": serves the body in 20 pieces over about two seconds;
- "bad-etag": "ok", but its ETag is another file's sha256.

Every request is recorded with its Range and If-Range headers, so a test
can assert what was asked for.
"""

import hashlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HUB_PREFIX = "/rasbt/qwen3-from-scratch/resolve/main/"
BACKUP_PREFIX = "/backup/"
FAKE_COMMIT = "0123456789abcdef0123456789abcdef01234567"


def etag(body):
    return f'"{hashlib.sha256(body).hexdigest()}"'


class FakeFileServer:
    def __init__(self):
        self.files = {}  # name -> (behaviour, body)
        self.requests = []
        self.ranges = []
        self.if_ranges = []
        self.seen = set()  # names served once (for the "-once" behaviours)
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
        # shutdown() waits up to one poll interval (0.5 s by default,
        # half a second at the end of each of some 40 tests)
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
        wanted = handler.headers.get("Range")
        if_range = handler.headers.get("If-Range")
        self.ranges.append(wanted)
        self.if_ranges.append(if_range)
        path = handler.path.split("?")[0]
        name = None
        for prefix in (HUB_PREFIX, BACKUP_PREFIX):
            if path.startswith(prefix):
                name = path[len(prefix):]
        behaviour, body = self.files.get(name, ("missing", b""))
        if behaviour.endswith("-once") and send_body:
            first = name not in self.seen
            self.seen.add(name)
            behaviour = behaviour.removesuffix("-once") if first else "ok"
        if behaviour == "hang":
            # Bounded: the test's teardown (or 60 s) releases it
            self.release.wait(timeout=60)
            return
        if behaviour in ("missing", "busy"):
            handler.send_response(404 if behaviour == "missing" else 503)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        start = 0
        if wanted and behaviour in ("ok", "truncate", "bad-range",
                                    "slow") and (
            if_range is None or if_range == etag(body)
        ):
            start = int(wanted.removeprefix("bytes=").rstrip("-"))
            if start >= len(body):
                handler.send_response(416)
                handler.send_header("Content-Range", f"bytes */{len(body)}")
                handler.send_header("Content-Length", "0")
                handler.end_headers()
                return
            if behaviour == "bad-range":
                start = 0  # the wrong bytes, and says so
            handler.send_response(206)
            handler.send_header(
                "Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}"
            )
        else:
            handler.send_response(200)
        part = body[start:]
        handler.send_header("Content-Length", str(len(part)))
        handler.send_header("Content-Type", "application/octet-stream")
        handler.send_header(
            "ETag", etag(b"other" if behaviour == "bad-etag" else body))
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
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
