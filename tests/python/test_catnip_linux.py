"""The Python package on catnip over a real wire: ``python -m demikernel echo-server --libos catnip`` on DPDK's
net_tap, and the Linux kernel's TCP as its client through the tap interface.

The rest of the suite runs catnip on a port that never sends (client and server share one LibOS, so the stack
loops frames back internally); this test puts frames on a device and has a different TCP stack at the other
end: ARP both ways, Linux's checksums and options, several connections, 4 MiB echoed byte for byte, and the
server shut down by SIGTERM. Needs root (EAL, a tap interface) and a wheel built with the ``catnip`` feature.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import demikernel as demi
import pytest

CATNIP = "10.203.7.1"
LINUX = "10.203.7.2"
PORT = 7007
IFACE = f"dkpy{os.getpid() % 10000}"


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root (EAL and a tap interface)"
    if shutil.which("ip") is None:
        return "needs iproute2's ip"
    info = {i.name: i for i in demi.liboses()}["catnip"]
    if not info.compiled:
        return f"catnip: {info.reason}"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=str(_skip_reason()))


def _config(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "catnip-tap.toml"
    path.write_text(
        "[catnip]\n"
        f'eal_args = ["--lcores=0@(0-1)", "--no-pci", "--no-telemetry", "--in-memory", '
        f'"--file-prefix=demipy-tap-{os.getpid()}", "--log-level=*:warning", "--vdev=net_tap0,iface={IFACE}"]\n'
        'port = "net_tap0"\n'
        f'ipv4 = "{CATNIP}"\n'
        "prefix_len = 24\n"
    )
    return path


def _wait_for_line(stream: object, prefix: str, timeout: float) -> str:
    """The first line of ``stream`` starting with ``prefix`` (read on a thread, so a silent server times out)."""
    found: list[str] = []

    def read() -> None:
        for line in stream:  # type: ignore[attr-defined]
            if line.startswith(prefix):
                found.append(line)
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    if not found:
        raise AssertionError(f"no {prefix!r} line within {timeout} s")
    return found[0]


def _echo(data: bytes) -> bytes:
    with socket.create_connection((CATNIP, PORT), timeout=10) as conn:
        sender = threading.Thread(target=conn.sendall, args=(data,))
        sender.start()
        out = bytearray()
        while len(out) < len(data):
            chunk = conn.recv(65536)
            assert chunk, f"connection closed after {len(out)} of {len(data)} bytes"
            out += chunk
        sender.join()
        return bytes(out)


def test_a_python_catnip_server_serves_linux_clients_over_a_tap(tmp_path: pathlib.Path) -> None:
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "demikernel",
            "echo-server",
            "--libos",
            "catnip",
            "--config",
            str(_config(tmp_path)),
            "--addr",
            f"{CATNIP}:{PORT}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "DEMI_CONFIG"},
    )
    try:
        _wait_for_line(server.stdout, "listening on", 60)
        subprocess.run(["ip", "addr", "add", f"{LINUX}/24", "dev", IFACE], check=True)
        subprocess.run(["ip", "link", "set", IFACE, "up"], check=True)
        # One round trip, then 4 MiB of random bytes, then eight connections at once.
        assert _echo(b"hello, catnip") == b"hello, catnip"
        payload = os.urandom(4 << 20)
        assert _echo(payload) == payload
        results: list[bool] = []

        def one(i: int) -> None:
            data = os.urandom(64 << 10) + bytes([i])
            results.append(_echo(data) == data)

        clients = [threading.Thread(target=one, args=(i,)) for i in range(8)]
        for c in clients:
            c.start()
        for c in clients:
            c.join(30)
        assert results == [True] * 8
        # Linux learned catnip's MAC by ARP (and catnip Linux's, or it could not have answered).
        neighbours = subprocess.run(["ip", "neigh", "show", CATNIP], capture_output=True, text=True).stdout
        assert "lladdr" in neighbours, neighbours
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
        finally:
            assert server.stdout is not None
            rest = server.stdout.read()
            server.stdout.close()
    assert code == 0, f"the server exited with {code}: {rest}"
    deadline = time.monotonic() + 10
    while pathlib.Path(f"/sys/class/net/{IFACE}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pathlib.Path(f"/sys/class/net/{IFACE}").exists(), "the tap interface outlived the server"
