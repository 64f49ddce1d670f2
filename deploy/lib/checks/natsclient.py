"""A minimal NATS client (standard library only) for natsperms.py: connect with a user and
password, publish, subscribe, request/reply, pull one message from a JetStream consumer, and
report the server's -ERR (permission violations) for each operation. It checks nothing itself.
"""

from __future__ import annotations

import json
import socket
import time


class Nats:
    """Just enough of the NATS client protocol to test permissions (stdlib only)."""

    def __init__(self, port: int, user: str, password: str, inbox: str):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""
        self.msgs: list[dict] = []
        self.errs: list[str] = []
        self.sid = 0
        self.n = 0
        line = self._line()
        if not line.startswith("INFO "):
            raise RuntimeError(f"unexpected greeting {line!r}")
        conn = {"verbose": False, "pedantic": False, "user": user, "pass": password,
                "headers": True, "no_responders": True, "protocol": 1, "lang": "deploy-check",
                "version": "0"}
        self.sock.sendall(f"CONNECT {json.dumps(conn)}\r\n".encode())
        errs = self.flush()
        if errs:
            raise PermissionError("; ".join(errs))
        self.inbox = inbox
        self.inbox_sid = self._sub(inbox + ".>")

    def close(self) -> None:
        self.sock.close()

    def _line(self) -> str:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed: " + "; ".join(self.errs))
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode()

    def _bytes(self, n: int) -> bytes:
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _op(self) -> str:
        line = self._line()
        if line.startswith("MSG ") or line.startswith("HMSG "):
            parts = line.split()
            hmsg = parts[0] == "HMSG"
            subject, sid = parts[1], parts[2]
            if hmsg:
                reply = parts[3] if len(parts) == 6 else None
                hlen, total = int(parts[-2]), int(parts[-1])
            else:
                reply = parts[3] if len(parts) == 5 else None
                hlen, total = 0, int(parts[-1])
            data = self._bytes(total)
            self.msgs.append({"subject": subject, "sid": sid, "reply": reply,
                              "headers": data[:hlen].decode(errors="replace"), "data": data[hlen:]})
            return "MSG"
        if line == "PING":
            self.sock.sendall(b"PONG\r\n")
            return "PING"
        if line.startswith("-ERR"):
            self.errs.append(line)
            return "ERR"
        return line

    def flush(self) -> list[str]:
        """Round trip; returns the -ERR lines that arrived meanwhile."""
        before = len(self.errs)
        self.sock.sendall(b"PING\r\n")
        while self._op() != "PONG":
            pass
        return self.errs[before:]

    def _sub(self, subject: str) -> str:
        self.sid += 1
        self.sock.sendall(f"SUB {subject} {self.sid}\r\n".encode())
        return str(self.sid)

    def sub(self, subject: str) -> list[str]:
        self._sub(subject)
        return self.flush()

    def pub(self, subject: str, data: bytes = b"", reply: str | None = None) -> list[str]:
        r = f" {reply}" if reply else ""
        self.sock.sendall(f"PUB {subject}{r} {len(data)}\r\n".encode() + data + b"\r\n")
        return self.flush()

    def _wait(self, pred, timeout: float) -> dict | None:
        deadline = time.monotonic() + timeout
        while True:
            for i, m in enumerate(self.msgs):
                if pred(m):
                    return self.msgs.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                self._op()
            except socket.timeout:
                return None
            finally:
                self.sock.settimeout(5)

    def request(self, subject: str, body: object = b"", timeout: float = 2.0):
        """('denied', errs) | ('ok', json-or-bytes) | ('timeout', None)."""
        self.n += 1
        reply = f"{self.inbox}.r{self.n}"
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        errs = self.pub(subject, data, reply)
        if errs:
            return "denied", errs
        m = self._wait(lambda m: m["subject"] == reply, timeout)
        if m is None:
            return "timeout", None
        try:
            return "ok", json.loads(m["data"] or b"null")
        except ValueError:
            return "ok", m["data"]

    def fetch(self, stream: str, consumer: str, timeout: float = 3.0):
        """One message from a pull consumer: ('denied', errs) | ('msg', m) | ('none', status)."""
        self.n += 1
        reply = f"{self.inbox}.f{self.n}"
        errs = self.pub(f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}",
                        json.dumps({"batch": 1, "no_wait": True}).encode(), reply)
        if errs:
            return "denied", errs
        m = self._wait(lambda m: m["sid"] == self.inbox_sid and
                       (m["subject"] == reply or not m["subject"].startswith(self.inbox)), timeout)
        if m is None:
            return "none", "timeout"
        if m["subject"] == reply:  # a status message: 404 no messages, 408 timeout
            return "none", m["headers"].splitlines()[0] if m["headers"] else "empty"
        return "msg", m


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
