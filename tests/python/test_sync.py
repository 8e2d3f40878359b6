"""The synchronous API on every usable libOS: TCP and UDP echo, many connections, large transfers, Sga."""

from __future__ import annotations

import hashlib
import os
import socket

import demikernel as demi
import pytest
from conftest import connected_pair, recv_exactly


def test_constants_mirror_socket() -> None:
    for name in ("AF_INET", "SOCK_STREAM", "SOCK_DGRAM", "IPPROTO_TCP", "SOL_SOCKET", "SO_REUSEADDR", "TCP_NODELAY"):
        assert getattr(demi, name) == getattr(socket, name)


def test_tcp_echo(libos: demi.LibOS, pair: tuple[int, int, int]) -> None:
    _, client, server = pair
    assert libos.getpeername(client) == libos.getsockname(server)
    push = libos.push(client, b"hello demikernel")
    result = libos.wait(push, timeout=5)
    assert result.opcode == demi.Opcode.PUSH and result.qd == client and result.error is None
    data = recv_exactly(libos, server, 16)
    libos.wait(libos.push(server, data), timeout=5)
    assert recv_exactly(libos, client, 16) == b"hello demikernel"
    libos.close(client)
    eof = libos.wait(libos.pop(server), timeout=5)
    assert eof.opcode == demi.Opcode.POP and len(eof.value) == 0 and bytes(eof.value) == b""


def test_push_takes_any_bytes_like(libos: demi.LibOS, pair: tuple[int, int, int]) -> None:
    _, client, server = pair
    for data in (b"ab", bytearray(b"cd"), memoryview(b"xxef")[2:], demi.Sga(b"gh")):
        libos.wait(libos.push(client, data), timeout=5)
    assert recv_exactly(libos, server, 8) == b"abcdefgh"


def test_udp_echo(libos: demi.LibOS) -> None:
    a = libos.socket(demi.AF_INET, demi.SOCK_DGRAM)
    b = libos.socket(demi.AF_INET, demi.SOCK_DGRAM)
    libos.bind(a, ("127.0.0.1", 0))
    libos.bind(b, ("127.0.0.1", 0))
    libos.wait(libos.pushto(a, b"datagram", libos.getsockname(b)), timeout=5)
    got = libos.wait(libos.pop(b), timeout=5)
    assert bytes(got.value) == b"datagram" and got.addr == libos.getsockname(a)
    libos.wait(libos.pushto(b, got.value, got.addr), timeout=5)
    back = libos.wait(libos.pop(a), timeout=5)
    assert bytes(back.value) == b"datagram"


def test_many_connections(libos: demi.LibOS) -> None:
    listener = libos.socket()
    libos.bind(listener, ("127.0.0.1", 0))
    libos.listen(listener, 256)
    addr = libos.getsockname(listener)
    clients = [libos.socket() for _ in range(100)]
    connects = [libos.connect(c, addr) for c in clients]
    servers = []
    for _ in clients:
        servers.append(libos.wait(libos.accept(listener), timeout=10).value)
    for result in libos.wait_all(connects, timeout=10):
        assert result.opcode == demi.Opcode.CONNECT
    pushes = [libos.push(c, f"conn {i:03}".encode()) for i, c in enumerate(clients)]
    libos.wait_all(pushes, timeout=10)
    got = sorted(recv_exactly(libos, s, 8) for s in servers)
    assert got == sorted(f"conn {i:03}".encode() for i in range(100))
    for qd in [*clients, *servers, listener]:
        libos.close(qd)


def test_64_mib_transfer_checked_by_hash(libos: demi.LibOS, pair: tuple[int, int, int]) -> None:
    _, client, server = pair
    size, chunk = 64 << 20, 1 << 20
    payload = os.urandom(chunk)
    sent = hashlib.sha256()
    pushes = []
    for i in range(size // chunk):
        piece = bytes([i & 0xFF]) + payload[1:]
        sent.update(piece)
        pushes.append(libos.push(client, piece))
    received = hashlib.sha256()
    total = 0
    pop = libos.pop(server)
    while total < size:
        tokens = [pop, *pushes[:1]]
        index, result = libos.wait_any(tokens, timeout=30)
        assert result.error is None, result
        if index == 0:
            view = memoryview(result.value)
            received.update(view)
            total += len(view)
            view.release()
            assert len(result.value) > 0
            pop = libos.pop(server)
        else:
            pushes.pop(0)
    assert total == size
    assert received.hexdigest() == sent.hexdigest()


def test_zero_copy_sga_writes_reach_the_peer(libos: demi.LibOS, pair: tuple[int, int, int]) -> None:
    _, client, server = pair
    sga = libos.sgaalloc(4096)
    assert len(sga) == 4096 and bytes(sga) == bytes(4096)
    with memoryview(sga) as view:
        assert not view.readonly
        view[:5] = b"hello"
        view[-3:] = b"end"
    push = libos.push(client, sga)
    libos.sgafree(sga)  # the libOS holds its own reference until the push is done
    libos.wait(push, timeout=5)
    got = recv_exactly(libos, server, 4096)
    assert got[:5] == b"hello" and got[-3:] == b"end" and got[5:-3] == bytes(4088)


def test_popped_sga_is_a_zero_copy_buffer(libos: demi.LibOS, pair: tuple[int, int, int]) -> None:
    _, client, server = pair
    libos.wait(libos.push(client, b"abcdef"), timeout=5)
    sga = libos.wait(libos.pop(server), timeout=5).value
    view = memoryview(sga)
    assert view.tobytes() == b"abcdef" and view.format == "B" and view.contiguous
    view[0:1] = b"X"
    assert bytes(sga) == b"Xbcdef"
    view.release()
    assert sga.nsegments == 1 and not sga.freed


def test_memory_queue_and_wait_any(libos: demi.LibOS) -> None:
    qd = libos.queue()
    pops = [libos.pop(qd) for _ in range(3)]
    with pytest.raises(TimeoutError):
        libos.wait_any(pops, timeout=0.01)
    libos.wait(libos.push(qd, b"one"), timeout=1)
    index, result = libos.wait_any(pops, timeout=1)
    assert index == 0 and bytes(result.value) == b"one"
    libos.wait_all([libos.push(qd, b"two"), libos.push(qd, b"three")], timeout=1)
    rest = libos.wait_all(pops[1:], timeout=1)
    assert [bytes(r.value) for r in rest] == [b"two", b"three"]
    assert "POP" in repr(rest[0]) and "Sga" in repr(rest[0])


def test_socket_options_and_names(libos: demi.LibOS, pair: tuple[int, int, int]) -> None:
    listener, client, _ = pair
    libos.setsockopt(client, demi.IPPROTO_TCP, demi.TCP_NODELAY, True)
    assert libos.getsockopt(client, demi.IPPROTO_TCP, demi.TCP_NODELAY) == 1
    libos.setsockopt(client, demi.SOL_SOCKET, demi.SO_KEEPALIVE, 1)
    assert libos.getsockopt(client, demi.SOL_SOCKET, demi.SO_KEEPALIVE) == 1
    libos.setsockopt(client, demi.SOL_SOCKET, demi.SO_LINGER, 2)
    assert libos.getsockopt(client, demi.SOL_SOCKET, demi.SO_LINGER) == 2
    libos.setsockopt(client, demi.SOL_SOCKET, demi.SO_LINGER, None)
    assert libos.getsockopt(client, demi.SOL_SOCKET, demi.SO_LINGER) is None
    host, port = libos.getsockname(listener)
    assert host == "127.0.0.1" and port > 0


def test_async_close_and_context_manager() -> None:
    with demi.LibOS("catnap") as libos:
        qd = libos.queue()
        result = libos.wait(libos.async_close(qd), timeout=1)
        assert result.opcode == demi.Opcode.CLOSE
    assert libos.closed


def test_default_libos_and_liboses() -> None:
    assert demi.default_libos() is demi.default_libos()
    infos = {i.name: i for i in demi.liboses()}
    assert infos["catnap"].usable and infos["catnap"].compiled
    assert infos["catnip"].compiled or "not compiled" in (infos["catnip"].reason or "")
    assert not infos["catmint"].usable and "not compiled" in (infos["catmint"].reason or "")


def test_second_pair_on_one_libos(libos: demi.LibOS) -> None:
    a = connected_pair(libos)
    b = connected_pair(libos)
    assert len({*a, *b}) == 6
