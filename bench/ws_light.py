"""A light websocket client for the feed benchmark: many dashboards on one client core.

The suite's load generator runs on the same 2 cores as the server. With the `websockets`
library every frame costs the client a frame object, a queue hand-off, a task wake-up and a
`json.loads` (≈ 30 µs here); 1,000 sockets × 50 entries/s = 50,000 frames/s would need more
than a core on the client alone, and the bench would measure its own client. This client is
an asyncio.Protocol that does the RFC 6455 handshake and parses server frames in
`data_received` (one clock reading per read, however many frames it holds). An entry is read
with two `bytes.find`s (its seq and, for check-ins, the invitation id); other messages (hello,
heartbeat, reset, …) are rare and go through `json.loads`. Pings are answered (daphne pings).
It checks what the feed promises per socket: entries in seq order, no gap, no repeat.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import time
from collections.abc import Callable

_SEQ = b'"seq":'
_CHECKIN = b'"kind":"checkin.created"'
_INVITATION = b'"invitation_id":'


def _int_at(data: bytes, start: int) -> int:
    end = start
    while data[end] in b"0123456789":
        end += 1
    return int(data[start:end])


def _client_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (payload < 126 bytes: pong and close only)."""
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked


class Board:
    """What one dashboard saw."""

    def __init__(self):
        self.arrivals: dict[int, float] = {}  # invitation id -> perf_counter() at arrival
        self.entries = 0
        self.last_seq: int | None = None
        self.order_errors = 0  # an entry whose seq is not last + 1
        self.hello = asyncio.Event()
        self.closed: str | None = None
        self.other: list[dict] = []  # non-entry messages (hello, heartbeat, …)


class FeedClient(asyncio.Protocol):
    def __init__(self, board: Board, request: bytes, on_lost: Callable[[], None]):
        self.board, self.request, self.on_lost = board, request, on_lost
        self.buffer = b""
        self.upgraded = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc):
        if self.board.closed is None:
            self.board.closed = f"connection lost ({exc!r})"
        self.board.hello.set()
        self.on_lost()

    def data_received(self, data: bytes):
        now = time.perf_counter()
        buf = self.buffer + data if self.buffer else data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = buf
                return
            status = buf[:buf.find(b"\r\n")]
            if b" 101 " not in status:
                self.board.closed = f"handshake refused: {status.decode('latin-1')}"
                self.board.hello.set()
                self.transport.close()
                return
            self.upgraded = True
            buf = buf[end + 4:]
        board = self.board
        pos, size = 0, len(buf)
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length, head = b1 & 0x7F, 2
            if length == 126:
                if size - pos < 4:
                    break
                length, head = struct.unpack_from("!H", buf, pos + 2)[0], 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, head = struct.unpack_from("!Q", buf, pos + 2)[0], 10
            if size - pos < head + length:
                break
            start, pos = pos + head, pos + head + length
            opcode = b0 & 0x0F
            if opcode == 1:
                self._text(buf, start, pos, now)
            elif opcode == 9:  # ping: answer with the same payload
                self.transport.write(_client_frame(0xA, bytes(buf[start:pos])))
            elif opcode == 8:
                code = struct.unpack_from("!H", buf, start)[0] if pos - start >= 2 else None
                board.closed = f"closed by the server ({code})"
                board.hello.set()
                self.transport.close()
                return
        self.buffer = buf[pos:]

    def _text(self, buf: bytes, start: int, end: int, now: float) -> None:
        board = self.board
        if buf.startswith(b'{"type":"entry"', start):
            s = buf.find(_SEQ, start, end)
            seq = _int_at(buf, s + len(_SEQ))
            if board.last_seq is not None and seq != board.last_seq + 1:
                board.order_errors += 1
            board.last_seq = seq
            board.entries += 1
            if buf.find(_CHECKIN, start, end) >= 0:
                i = buf.find(_INVITATION, start, end)
                board.arrivals[_int_at(buf, i + len(_INVITATION))] = now
            return
        message = json.loads(buf[start:end])
        board.other.append(message)
        if message.get("type") == "hello":
            board.last_seq = message["head"]
            board.hello.set()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_client_frame(0x8, struct.pack("!H", 1000)))
            self.transport.close()


async def connect(port: int, path: str, headers: dict[str, str], board: Board) -> FeedClient:
    """Open one feed socket on 127.0.0.1:port; returns once the TCP connection is made (the
    handshake answer and `hello` arrive later: await board.hello)."""
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    lost = asyncio.get_running_loop().create_future()

    def on_lost():
        if not lost.done():
            lost.set_result(None)

    _t, protocol = await asyncio.get_running_loop().create_connection(
        lambda: FeedClient(board, request, on_lost), "127.0.0.1", port)
    protocol.lost = lost
    return protocol
