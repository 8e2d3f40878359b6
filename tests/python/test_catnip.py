"""catnip (DPDK) from Python: what only catnip has. One DPDK port (and EAL) per process, kept open between
LibOS instances of a thread; the rest of the suite runs on catnip through the ``libos`` fixture.

Runs when the module has catnip and ``DEMI_CONFIG`` names a file with a ``[catnip]`` section
(ci/python-catnip-tests.sh); skipped otherwise, with the reason.
"""

from __future__ import annotations

import errno
import os
import pathlib

import demikernel as demi
import pytest
from conftest import connected_pair, recv_exactly

_CATNIP = next(info for info in demi.liboses() if info.name == "catnip")
pytestmark = pytest.mark.skipif(not _CATNIP.usable, reason=f"catnip: {_CATNIP.reason}")


def test_one_instance_at_a_time_and_the_port_outlives_it() -> None:
    first = demi.LibOS("catnip")
    try:
        listener, client, server = connected_pair(first)
        with pytest.raises(OSError) as info:
            demi.LibOS("catnip")
        assert info.value.errno == errno.EBUSY
        assert "one at a time" in str(info.value)
        first.wait(first.push(client, b"before"), timeout=5)
        assert recv_exactly(first, server, 6) == b"before"
    finally:
        first.shutdown()
    # The same port, a fresh stack: the old queues are gone, the old port numbers free again.
    with demi.LibOS("catnip") as second:
        assert second.name == "catnip"
        with pytest.raises(OSError) as info:
            second.getsockname(listener)
        assert info.value.errno == errno.EBADF
        _, client2, server2 = connected_pair(second)
        second.wait(second.push(client2, b"after"), timeout=5)
        assert recv_exactly(second, server2, 5) == b"after"


def test_other_device_settings_are_refused(tmp_path: pathlib.Path) -> None:
    config = tmp_path / "other.toml"
    config.write_text(
        'libos = "catnip"\n[catnip]\neal_args = ["--no-pci", "--in-memory", "--vdev=net_null7"]\nipv4 = "10.202.0.1"\n'
    )
    with pytest.raises(ValueError, match="other settings"):
        demi.LibOS(config=str(config))
    # The process's port is untouched.
    with demi.LibOS("catnip") as libos:
        connected_pair(libos)


def test_own_address_and_loopback_both_reach_a_wildcard_listener() -> None:
    own = os.environ.get("DEMI_TEST_CATNIP_IPV4", "10.201.0.1")
    with demi.LibOS("catnip") as libos:
        listener = libos.socket()
        libos.bind(listener, ("0.0.0.0", 0))
        libos.listen(listener)
        port = libos.getsockname(listener)[1]
        for host in ("127.0.0.1", own):
            client = libos.socket()
            accept = libos.accept(listener)
            libos.wait(libos.connect(client, (host, port)), timeout=5)
            server = libos.wait(accept, timeout=5).value
            assert libos.getsockname(server) == (host, port)
            assert libos.getpeername(server) == libos.getsockname(client)
            assert libos.getsockname(client)[0] == host
        # A listener bound to 127.0.0.1 refuses connections to the other address, as on Linux.
        only_lo = libos.socket()
        libos.bind(only_lo, ("127.0.0.1", 0))
        libos.listen(only_lo)
        client = libos.socket()
        with pytest.raises(ConnectionRefusedError):
            libos.wait(libos.connect(client, (own, libos.getsockname(only_lo)[1])), timeout=5)
