"""A party's notification endpoint as its own process, for tests.

Usage: python -m tests.notify_listener PORT OUTFILE [HOLD_S] — appends every
POSTed body (one JWS per line) to OUTFILE and answers 204, HOLD_S seconds
later if given (a slow endpoint keeps a gateway's attempts in flight). It
answers requests in parallel, and a body cut short (its sender died
mid-request) is not written.
"""

from __future__ import annotations

import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def main() -> None:
    port, out = int(sys.argv[1]), Path(sys.argv[2])
    hold_s = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            if len(body) != length:
                return
            with lock, out.open("ab") as f:
                f.write(body + b"\n")
            time.sleep(hold_s)
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 128  # a gateway opens up to 16 connections at once

    Server(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
