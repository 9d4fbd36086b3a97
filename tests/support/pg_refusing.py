"""A PostgreSQL lookalike on a loopback port that answers every connection as a full server does: with the error
"sorry, too many clients already" (SQLSTATE 53300), on the wire, so the driver and SQLAlchemy wrap it for real.

    async with too_many_clients_server() as url:   # postgresql://postgres@127.0.0.1:<port>/postgres
        ...
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

_SSL_REQUEST = 80877103


def _error_response(sqlstate: str, message: str) -> bytes:
    fields = b"".join(code + value.encode() + b"\x00" for code, value in (
        (b"S", "FATAL"), (b"V", "FATAL"), (b"C", sqlstate), (b"M", message)))
    body = fields + b"\x00"
    return b"E" + struct.pack("!I", len(body) + 4) + body


async def _refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            length = struct.unpack("!I", await reader.readexactly(4))[0]
            payload = await reader.readexactly(length - 4)
            if struct.unpack("!I", payload[:4])[0] == _SSL_REQUEST:
                writer.write(b"N")  # no TLS: the client sends its startup message in the clear
                await writer.drain()
                continue
            writer.write(_error_response("53300", "sorry, too many clients already"))
            await writer.drain()
            return
    except (asyncio.IncompleteReadError, ConnectionError):
        return
    finally:
        writer.close()
        with suppress(Exception):
            await writer.wait_closed()


@asynccontextmanager
async def too_many_clients_server() -> AsyncIterator[str]:
    """The URL of a server that refuses every connection with SQLSTATE 53300; stopped on exit."""
    server = await asyncio.start_server(_refuse, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        server.close()
        await server.wait_closed()
