"""A small blocking WebSocket client (RFC 6455), standard library only — NVDA's Python has no
``websockets``. Client side only: masks what it sends, answers pings, no extensions (Parley's
server negotiates no compression). One thread may :meth:`recv` while another :meth:`send`s.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import socket
import struct
import threading
from urllib.parse import urlsplit

__all__ = ["WebSocket", "WebSocketClosed", "connect"]

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


class WebSocketClosed(ConnectionError):
    """The connection is closed (by either side, or broken)."""


class WebSocket:
    def __init__(self, sock: socket.socket, subprotocol: str | None, leftover: bytes = b"") -> None:
        self.sock = sock
        self.subprotocol = subprotocol
        self._buf = bytearray(leftover)
        self._send_lock = threading.Lock()
        self.closed = False

    # -- sending -----------------------------------------------------------------------------------

    def send(self, message: str | bytes) -> None:
        if isinstance(message, str):
            self._frame(0x1, message.encode("utf-8"))
        else:
            self._frame(0x2, message)

    def _frame(self, opcode: int, payload: bytes) -> None:
        n = len(payload)
        head = bytearray([0x80 | opcode])
        if n < 126:
            head.append(0x80 | n)
        elif n < 1 << 16:
            head.append(0x80 | 126)
            head += struct.pack("!H", n)
        else:
            head.append(0x80 | 127)
            head += struct.pack("!Q", n)
        mask = os.urandom(4)
        head += mask
        body = bytes(b ^ mask[i & 3] for i, b in enumerate(payload)) if n < 256 else _mask(payload, mask)
        with self._send_lock:
            if self.closed:
                raise WebSocketClosed("connection closed")
            try:
                self.sock.sendall(bytes(head) + body)
            except OSError as exc:
                self.closed = True
                raise WebSocketClosed(str(exc)) from exc

    # -- receiving ---------------------------------------------------------------------------------

    def _read(self, n: int) -> bytes:
        while len(self._buf) < n:
            try:
                data = self.sock.recv(max(65536, n - len(self._buf)))
            except OSError as exc:
                self.closed = True
                raise WebSocketClosed(str(exc)) from exc
            if not data:
                self.closed = True
                raise WebSocketClosed("connection closed by the server")
            self._buf += data
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def recv(self) -> str | bytes:
        """The next text (str) or binary (bytes) message; pings are answered on the way."""
        parts: list[bytes] = []
        first_op = 0
        size = 0
        while True:
            b0, b1 = self._read(2)
            fin, op = b0 & 0x80, b0 & 0x0F
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else b""
            if n > MAX_MESSAGE_BYTES:
                raise WebSocketClosed(f"message of {n} bytes is over the limit")
            payload = self._read(n)
            if mask:
                payload = _mask(payload, mask)
            if op == 0x8:  # close
                with contextlib.suppress(WebSocketClosed):
                    self._frame(0x8, payload[:2])
                self.closed = True
                raise WebSocketClosed("closed by the server")
            if op == 0x9:  # ping
                self._frame(0xA, payload)
                continue
            if op == 0xA:
                continue
            if op in (0x1, 0x2):
                first_op, parts, size = op, [payload], len(payload)
            elif op == 0x0:
                parts.append(payload)
                size += len(payload)
                if size > MAX_MESSAGE_BYTES:
                    raise WebSocketClosed("message over the limit")
            if fin and first_op:
                data = b"".join(parts)
                return data.decode("utf-8") if first_op == 0x1 else data

    def close(self) -> None:
        if not self.closed:
            with contextlib.suppress(WebSocketClosed):
                self._frame(0x8, struct.pack("!H", 1000))
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


def _mask(payload: bytes, mask: bytes) -> bytes:
    n = len(payload)
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


def connect(url: str, subprotocols: tuple[str, ...] = (), timeout_s: float = 5.0) -> WebSocket:
    """Open ``ws://host:port/path``; raises OSError / WebSocketClosed if that fails."""
    parts = urlsplit(url)
    if parts.scheme != "ws":
        raise ValueError(f"only ws:// URLs are supported, got {url!r}")
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 80
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    sock = socket.create_connection((host, port), timeout=timeout_s)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if subprotocols:
        lines.append("Sec-WebSocket-Protocol: " + ", ".join(subprotocols))
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(4096)
        if not data:
            sock.close()
            raise WebSocketClosed("the server closed the connection during the handshake")
        buf += data
        if len(buf) > 65536:
            sock.close()
            raise WebSocketClosed("handshake response too large")
    head, rest = buf.split(b"\r\n\r\n", 1)
    status, *header_lines = head.decode("latin-1").split("\r\n")
    if " 101 " not in status + " ":
        sock.close()
        raise WebSocketClosed(f"handshake refused: {status}")
    headers = {}
    for ln in header_lines:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    accept = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
    if headers.get("sec-websocket-accept") != accept:
        sock.close()
        raise WebSocketClosed("bad Sec-WebSocket-Accept in the handshake")
    sock.settimeout(None)
    return WebSocket(sock, headers.get("sec-websocket-protocol"), rest)
