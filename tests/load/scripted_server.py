"""A small real HTTP/1.1 server whose answers a test scripts, for the load generator's tests.

The generator's accounting (statuses, shed answers, timeouts, refused and dropped
connections) is checked against a server that misbehaves on purpose, over real
sockets; tasks-api itself cannot be made to misbehave on cue.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

# An answer: raw bytes to send, or None to close the connection without answering.
Script = Callable[[str, str], Awaitable[bytes | None]]


def answer(status: int, *headers: str, body: bytes = b"{}") -> bytes:
    """A complete HTTP/1.1 answer with a JSON body."""
    lines = [f"HTTP/1.1 {status} X", "Content-Type: application/json", *headers]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def default_script(method: str, path: str) -> bytes | None:
    """Tasks read 200, created 201 with a Location, probes 200."""
    if method == "POST":
        return answer(201, f"Location: /api/v1/tasks/{uuid.uuid4()}")
    return answer(200)


@dataclass
class ScriptedServer:
    """Where it listens and what it received."""

    port: int = 0
    received: Counter[str] = field(default_factory=Counter)
    connections: int = 0


async def _serve(
    server: ScriptedServer,
    script: Script,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
) -> None:
    server.connections += 1
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            method, path, _ = request_line.split(" ", 2)
            length = 0
            for line in header_lines:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if length:
                await reader.readexactly(length)
            server.received[f"{method} {path}"] += 1
            reply = await script(method, path)
            if reply is None:
                break
            writer.write(reply)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


@contextlib.asynccontextmanager
async def scripted_server(script: Script = default_script) -> AsyncIterator[ScriptedServer]:
    """A server on 127.0.0.1 answering with `script`, for the duration of the block."""
    state = ScriptedServer()
    tasks: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await _serve(state, script, reader, writer)
        except asyncio.CancelledError:
            # Cancelled at shutdown: end quietly, as a server closing its connections does
            # (a cancelled handler task is logged as an error by asyncio's stream server).
            writer.transport.abort()
        finally:
            tasks.discard(task)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()
