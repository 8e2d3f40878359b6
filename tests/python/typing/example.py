"""A small program against the stubs; CI type-checks it with `mypy --strict`."""

from __future__ import annotations

import demikernel as demi
import demikernel.asyncio as demi_asyncio


def sync_echo(libos: demi.LibOS) -> bytes:
    listener = libos.socket(demi.AF_INET, demi.SOCK_STREAM)
    libos.bind(listener, ("127.0.0.1", 0))
    libos.listen(listener, 8)
    client = libos.socket()
    accept: demi.QToken = libos.accept(listener)
    libos.wait(libos.connect(client, libos.getsockname(listener)), timeout=5.0)
    accepted: demi.QResult = libos.wait(accept)
    server: int = accepted.value
    sga: demi.Sga = libos.sgaalloc(5)
    with memoryview(sga) as view:
        view[:] = b"hello"
    libos.wait(libos.push(client, sga))
    libos.sgafree(sga)
    index, result = libos.wait_any([libos.pop(server)], timeout=None)
    assert index == 0 and result.opcode is demi.Opcode.POP and result.error is None
    popped = result.sga
    return bytes(popped) if popped is not None else b""


async def streams_echo(port: int) -> bytes:
    reader, writer = await demi_asyncio.open_connection("127.0.0.1", port)
    writer.write(b"ping\n")
    await writer.drain()
    line: bytes = await reader.readline()
    writer.close()
    await writer.wait_closed()
    return line


async def awaited(libos: demi.LibOS) -> int:
    qd = libos.queue()
    pushed: demi.QResult = await libos.push(qd, b"x")
    popped = await libos.pop(qd)
    return len(popped.value) + pushed.qd


def main() -> None:
    with demi.LibOS("catnap") as libos:
        print(sync_echo(libos))
        print(demi.run(awaited(libos)))
    infos: list[demi.LibOSInfo] = demi.liboses()
    print([i.name for i in infos if i.usable])


if __name__ == "__main__":
    main()
