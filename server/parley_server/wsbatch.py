"""A websockets server connection that sends many messages with one write to the socket.

Protocol v2 sends audio as one binary message per 20 ms frame: 64 contexts at real-time pace
are 3,200 messages a second. Through ``ServerConnection.send`` each message is its own
``transport.write`` (one ``send()`` system call, one TCP segment through the loopback or the
network stack) and its own flow-control round (``send_context``, ``drain``); profiled with 64
contexts (py-spy), ``Connection.send`` was 46% of the event loop's samples, two thirds of that the
write. :meth:`BatchingConnection.send_many` frames a batch of messages with the connection's
sans-I/O protocol and hands the socket the bytes of all of them in one write, under one
``send_context`` (so the connection's state checks, close handling and write-buffer flow control
are websockets' own).

``send_context`` and ``protocol`` are attributes of websockets' asyncio ``Connection`` that its
own ``send`` is built on; the project pins websockets to a major-version range in which they are
as used here (tests/server/test_wsbatch.py checks the bytes on the wire).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from websockets.asyncio.server import ServerConnection

__all__ = ["BatchingConnection", "send_many"]


class BatchingConnection(ServerConnection):
    """``ServerConnection`` with :meth:`send_many`, and whose pending frames leave in one write."""

    async def send_many(self, messages: Sequence[str | bytes]) -> None:
        """Send each message as its own WebSocket message (text for ``str``, binary for bytes),
        in order, with one write to the transport. Raises ``ConnectionClosed`` like ``send``."""
        if not messages:
            return
        if len(messages) == 1:
            await self.send(messages[0])
            return
        async with self.send_context():
            for m in messages:
                if isinstance(m, str):
                    self.protocol.send_text(m.encode())
                else:
                    self.protocol.send_binary(m)

    def send_data(self) -> None:
        """websockets' ``send_data``, but consecutive outgoing frames are joined into one write
        (an empty item is websockets' signal to half-close, handled as websockets does)."""
        run: list[bytes] = []
        for data in self.protocol.data_to_send():
            if data:
                run.append(data)
                continue
            if run:
                self.transport.write(b"".join(run))
                run = []
            if self.transport.can_write_eof():
                # as websockets does: write_eof's errors are undocumented
                with contextlib.suppress(Exception):
                    self.transport.write_eof()
            else:  # pragma: no cover - TLS transports
                self.transport.close()
        if run:
            self.transport.write(run[0] if len(run) == 1 else b"".join(run))


async def send_many(ws: ServerConnection, messages: Sequence[str | bytes]) -> None:
    """:meth:`BatchingConnection.send_many` where ``ws`` has it, else one ``send`` per message."""
    if isinstance(ws, BatchingConnection):
        await ws.send_many(messages)
        return
    for m in messages:
        await ws.send(m)
