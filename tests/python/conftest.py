"""Shared helpers for the Python tests. The `libos` fixture comes from the `demikernel.testing` plugin."""

from __future__ import annotations

import demikernel as demi
import pytest


def connected_pair(libos: demi.LibOS) -> tuple[int, int, int]:
    """(listener, client, server side) of one TCP connection on loopback."""
    listener = libos.socket(demi.AF_INET, demi.SOCK_STREAM)
    libos.bind(listener, ("127.0.0.1", 0))
    libos.listen(listener, 16)
    client = libos.socket(demi.AF_INET, demi.SOCK_STREAM)
    accept = libos.accept(listener)
    libos.wait(libos.connect(client, libos.getsockname(listener)), timeout=5)
    server = libos.wait(accept, timeout=5).value
    return listener, client, server


def recv_exactly(libos: demi.LibOS, qd: int, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        sga = libos.wait(libos.pop(qd), timeout=10).value
        assert len(sga) > 0, "unexpected end of stream"
        out += sga
    return bytes(out)


@pytest.fixture
def pair(libos: demi.LibOS) -> tuple[int, int, int]:
    return connected_pair(libos)
