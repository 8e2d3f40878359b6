"""Streams: StreamReader/StreamWriter semantics, and the asyncio documentation's echo example ported by
changing only its import."""

from __future__ import annotations

import asyncio
import pathlib
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

import demikernel as demi
import demikernel.asyncio as demi_asyncio
import pytest

DOCS = pathlib.Path(__file__).parent / "asyncio_docs"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _script(tmp: pathlib.Path, name: str, port: int, stock: bool = False) -> pathlib.Path:
    """A copy of a docs example on a free port (8888 may be taken), optionally with the stock import."""
    text = (DOCS / name).read_text().replace("8888", str(port))
    if stock:
        text = text.replace("import demikernel.asyncio as asyncio", "import asyncio")
    path = tmp / name
    path.write_text(text)
    return path


def _serve(path: pathlib.Path) -> subprocess.Popen[str]:
    server = subprocess.Popen([sys.executable, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert server.stdout is not None
    line = server.stdout.readline()
    assert line.startswith("Serving on"), line + (server.stderr.read() if server.stderr else "")
    return server


@pytest.mark.parametrize(("server_on", "client_on"), [("demi", "demi"), ("demi", "stock"), ("stock", "demi")])
def test_asyncio_docs_echo_example(tmp_path: pathlib.Path, server_on: str, client_on: str) -> None:
    port = free_port()
    server = _serve(_script(tmp_path, "tcp_echo_server.py", port, stock=server_on == "stock"))
    try:
        client_path = _script(tmp_path, "tcp_echo_client.py", port, stock=client_on == "stock")
        client = subprocess.run([sys.executable, str(client_path)], capture_output=True, text=True, timeout=30)
        assert client.returncode == 0, client.stderr
        assert client.stdout.splitlines() == [
            "Send: 'Hello World!'",
            "Received: 'Hello World!'",
            "Close the connection",
        ]
        time.sleep(0.1)
    finally:
        server.terminate()
        out, err = server.communicate(timeout=10)
    assert "Received 'Hello World!' from ('127.0.0.1'," in out, err
    assert "Close the connection" in out


Run = Callable[[Coroutine[Any, Any, Any]], Any]


@pytest.fixture(params=["demikernel", "stock"])
def run(request: pytest.FixtureRequest) -> Run:
    return demi.run if request.param == "demikernel" else asyncio.run


async def _with_server(
    libos: demi.LibOS, handler: Callable[[demi_asyncio.StreamReader, demi_asyncio.StreamWriter], Any]
) -> tuple[demi_asyncio.Server, int]:
    server = await demi_asyncio.start_server(handler, "127.0.0.1", 0, libos=libos)
    return server, server.sockets[0].getsockname()[1]


def test_reader_semantics(libos: demi.LibOS, run: Run) -> None:
    async def handler(reader: demi_asyncio.StreamReader, writer: demi_asyncio.StreamWriter) -> None:
        writer.write(b"line one\nline two\r\n")
        writer.writelines([b"exact", b"ly", b"|tail-without-newline"])
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def main() -> None:
        server, port = await _with_server(libos, handler)
        async with server:
            reader, writer = await demi_asyncio.open_connection("127.0.0.1", port, libos=libos)
            assert writer.get_extra_info("peername") == ("127.0.0.1", port)
            assert writer.get_extra_info("sockname")[0] == "127.0.0.1"
            assert await reader.readline() == b"line one\n"
            assert await reader.readuntil(b"\r\n") == b"line two\r\n"
            assert await reader.readexactly(7) == b"exactly"
            assert await reader.read(1) == b"|"
            with pytest.raises(asyncio.IncompleteReadError) as info:
                await reader.readexactly(100)
            assert info.value.partial == b"tail-without-newline" and info.value.expected == 100
            assert reader.at_eof()
            assert await reader.read() == b""
            assert await reader.readline() == b""
            writer.close()
            await writer.wait_closed()

    run(main())


def test_readuntil_limit_and_iteration(libos: demi.LibOS, run: Run) -> None:
    async def handler(reader: demi_asyncio.StreamReader, writer: demi_asyncio.StreamWriter) -> None:
        async for line in reader:
            writer.write(line.upper())
        await writer.drain()
        writer.close()

    async def main() -> None:
        server, port = await _with_server(libos, handler)
        async with server:
            reader, writer = await demi_asyncio.open_connection("127.0.0.1", port, libos=libos, limit=16)
            writer.write(b"a\nbb\n")
            assert await reader.readline() == b"A\n"
            assert await reader.readline() == b"BB\n"
            writer.write(b"x" * 40 + b"\n")
            await writer.drain()
            await asyncio.sleep(0.05)
            with pytest.raises(asyncio.LimitOverrunError):
                await reader.readuntil(b"\n")
            assert await reader.readexactly(41) == b"X" * 40 + b"\n"
            writer.close()
            await writer.wait_closed()

    run(main())


def test_cancelled_read_loses_no_data(libos: demi.LibOS, run: Run) -> None:
    async def handler(reader: demi_asyncio.StreamReader, writer: demi_asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.write(b"first")
        await writer.drain()
        await reader.read(1)
        writer.close()

    async def main() -> None:
        server, port = await _with_server(libos, handler)
        async with server:
            reader, writer = await demi_asyncio.open_connection("127.0.0.1", port, libos=libos)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(reader.read(10), 0.05)
            writer.write(b"!")
            await writer.drain()
            assert await reader.read(10) == b"first"
            writer.write(b"!")
            assert await reader.read() == b""
            writer.close()
            await writer.wait_closed()

    run(main())


def test_short_reads_and_partial_pops(libos: demi.LibOS, run: Run) -> None:
    """read(n) with nothing buffered pops at most n bytes; the rest comes with the next reads, in order."""

    async def handler(reader: demi_asyncio.StreamReader, writer: demi_asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.write(b"abcdefghij")
        await writer.drain()
        await reader.read(1)
        writer.close()

    async def main() -> None:
        server, port = await _with_server(libos, handler)
        async with server:
            reader, writer = await demi_asyncio.open_connection("127.0.0.1", port, libos=libos)
            writer.write(b"!")
            await writer.drain()
            got = await reader.read(3)
            assert got == b"abc"
            rest = b""
            while len(rest) < 7:
                chunk = await reader.read(100)
                assert chunk
                rest += chunk
            assert rest == b"defghij"
            writer.write(b"!")
            assert await reader.read(5) == b""
            assert reader.at_eof()
            writer.close()
            await writer.wait_closed()

    run(main())


def test_write_errors_surface_in_drain(libos: demi.LibOS, run: Run) -> None:
    """A push that fails (the peer reset the connection) is reported by drain, not by write."""

    async def handler(reader: demi_asyncio.StreamReader, writer: demi_asyncio.StreamWriter) -> None:
        libos.setsockopt(writer.qd, socket.SOL_SOCKET, socket.SO_LINGER, 0)
        writer.close()  # with SO_LINGER 0: a reset

    async def main() -> None:
        server, port = await _with_server(libos, handler)
        async with server:
            reader, writer = await demi_asyncio.open_connection("127.0.0.1", port, libos=libos)
            try:
                assert await reader.read(10) == b""
            except ConnectionResetError:
                pass
            with pytest.raises((ConnectionResetError, BrokenPipeError)):
                for _ in range(100):
                    writer.write(b"x" * 1000)
                    await writer.drain()
                    await asyncio.sleep(0.001)
            writer.close()
            await writer.wait_closed()

    run(main())


def test_many_concurrent_streams(libos: demi.LibOS, run: Run) -> None:
    async def handler(reader: demi_asyncio.StreamReader, writer: demi_asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def client(port: int, i: int) -> bytes:
        reader, writer = await demi_asyncio.open_connection("127.0.0.1", port, libos=libos)
        payload = bytes([i]) * (1000 + i * 100)
        got = b""
        for _ in range(5):
            writer.write(payload)
            await writer.drain()
            got = await reader.readexactly(len(payload))
        writer.close()
        await writer.wait_closed()
        return got

    async def main() -> None:
        server, port = await _with_server(libos, handler)
        async with server:
            results = await asyncio.gather(*(client(port, i) for i in range(20)))
        for i, got in enumerate(results):
            assert got == bytes([i]) * (1000 + i * 100)

    run(main())


def test_connect_refused_and_unsupported_options(libos: demi.LibOS) -> None:
    async def main() -> None:
        with pytest.raises(ConnectionRefusedError):
            await demi_asyncio.open_connection("127.0.0.1", free_port(), libos=libos)
        with pytest.raises(TypeError):
            await demi_asyncio.open_connection("127.0.0.1", 1, libos=libos, ssl=True)

    demi.run(main())


def test_module_forwards_the_rest_of_asyncio() -> None:
    assert demi_asyncio.sleep is asyncio.sleep
    assert demi_asyncio.IncompleteReadError is asyncio.IncompleteReadError
    with pytest.raises(AttributeError):
        demi_asyncio.__no_such_dunder__  # noqa: B018
