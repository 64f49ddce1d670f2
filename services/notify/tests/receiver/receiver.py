#!/usr/bin/env python3
"""A civicgrid notify webhook receiver, written from docs/notifications.md alone.

Usage: receiver.py <port> <secret> <log file>

Listens on 127.0.0.1:<port> (0 picks a free port) and prints the port it listens on as the first
line of stdout. Every POST is checked as the docs say: HMAC-SHA256 with the secret over
"<X-Civicgrid-Timestamp>.<raw body>", compared in constant time with each `v1=` value of
X-Civicgrid-Signature, and a timestamp at most 5 minutes away from this machine's clock. A valid
call is answered 200, anything else 401. Each call appends one JSON line to the log file:
{"valid": bool, "delivery": X-Civicgrid-Delivery, "fact": X-Civicgrid-Fact, "body": the JSON body
or null}. Every call is logged, repeats included, because the log is what a test inspects; a
real receiver would process each delivery id once.

Python standard library only.
"""

import hashlib
import hmac
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE_SECS = 300


def signature_valid(secret: bytes, timestamp: str, raw: bytes, header: str, now: float) -> bool:
    """The docs' check: a fresh timestamp and one matching `v1=` signature."""
    if not timestamp.isdigit() or abs(now - int(timestamp)) > TOLERANCE_SECS:
        return False
    expected = "v1=" + hmac.new(secret, timestamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, part.strip()) for part in header.split(","))


def make_handler(secret: bytes, log_path: str, lock: threading.Lock):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0") or "0"))
            valid = signature_valid(
                secret,
                self.headers.get("X-Civicgrid-Timestamp", ""),
                raw,
                self.headers.get("X-Civicgrid-Signature", ""),
                time.time(),
            )
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            line = {
                "valid": valid,
                "delivery": self.headers.get("X-Civicgrid-Delivery", ""),
                "fact": self.headers.get("X-Civicgrid-Fact", ""),
                "body": body,
            }
            # Logged before answering, so whoever sees the answer finds the line.
            with lock, open(log_path, "a", encoding="utf-8") as log:
                log.write(json.dumps(line, ensure_ascii=False) + "\n")
            self.send_response(200 if valid else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format, *args):
            # Quiet: stdout carries the port, the log file carries the calls.
            pass

    return Handler


def main() -> int:
    if len(sys.argv) != 4:
        print("usage: receiver.py <port> <secret> <log file>", file=sys.stderr)
        return 2
    port, secret, log_path = int(sys.argv[1]), sys.argv[2].encode("utf-8"), sys.argv[3]
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(secret, log_path, threading.Lock()))
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
