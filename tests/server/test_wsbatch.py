"""BatchingConnection: many WebSocket messages with one write to the socket, as a real client
(websockets' own) reads them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from parley_server.wsbatch import BatchingConnection, send_many
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

MESSAGES: list[str | bytes] = [b"\x00\x01", "text one", b"x" * 5000, "", b"", "last"]


async def _roundtrip(create_connection: Any, messages: list[str | bytes]) -> tuple[list[Any], list[int]]:
    writes: list[int] = []
    sent: list[int] = []

    async def handler(ws: ServerConnection) -> None:
        real_write = ws.transport.write

        def counting_write(data: Any) -> None:
            writes.append(len(data))
            real_write(data)

        ws.transport.write = counting_write  # type: ignore[method-assign]
        await send_many(ws, messages)
        sent.extend(writes)  # the writes of send_many (not the closing handshake's)
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0, create_connection=create_connection) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}") as client:
            got = [await asyncio.wait_for(client.recv(), 5) for _ in messages]
    return got, sent


def test_send_many_delivers_each_message_in_order_with_one_write() -> None:
    got, writes = asyncio.run(_roundtrip(BatchingConnection, MESSAGES))
    assert got == MESSAGES  # types (text vs binary) and order kept, empty messages too
    assert len(writes) == 1  # (the payloads are compressed: permessage-deflate is on by default)


def test_plain_connections_still_work_one_send_each() -> None:
    got, writes = asyncio.run(_roundtrip(ServerConnection, MESSAGES))
    assert got == MESSAGES
    assert len(writes) == len(MESSAGES)


@pytest.mark.parametrize("messages", [[], [b"only"], ["only"]])
def test_small_batches(messages: list[str | bytes]) -> None:
    got, writes = asyncio.run(_roundtrip(BatchingConnection, messages))
    assert got == messages
    assert len(writes) == len(messages)


def test_send_many_on_a_closed_connection_raises_connection_closed() -> None:
    from websockets.exceptions import ConnectionClosed

    outcome: list[BaseException] = []

    async def handler(ws: ServerConnection) -> None:
        await ws.wait_closed()
        try:
            assert isinstance(ws, BatchingConnection)
            await ws.send_many([b"a", b"b"])
        except ConnectionClosed as exc:
            outcome.append(exc)

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0, create_connection=BatchingConnection) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            async with connect(f"ws://127.0.0.1:{port}"):
                pass
            for _ in range(100):
                if outcome:
                    break
                await asyncio.sleep(0.02)

    asyncio.run(main())
    assert len(outcome) == 1
