"""`python -m demikernel`, run as subprocesses."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

CLI = [sys.executable, "-m", "demikernel"]


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


def test_info() -> None:
    out = run("info")
    assert out.returncode == 0, out.stderr
    assert "demikernel 0." in out.stdout
    assert "catnap" in out.stdout and "usable" in out.stdout
    assert "catnip" in out.stdout and "not compiled" in out.stdout


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["bogus"],
        ["echo-client"],
        ["echo-client", "--addr", "nohostport"],
        ["echo-client", "--addr", "127.0.0.1:1", "--size", "0"],
        ["echo-server", "--addr", "127.0.0.1:99999"],
        ["bench", "--count", "many"],
        ["info", "--unknown-flag"],
    ],
)
def test_bad_flags_exit_2_with_usage(args: list[str]) -> None:
    out = run(*args)
    assert out.returncode == 2
    assert "usage:" in out.stderr and "Traceback" not in out.stderr


def test_bad_libos_is_a_clean_error() -> None:
    out = run("echo-client", "--libos", "catnop", "--addr", "127.0.0.1:1")
    assert out.returncode == 1
    assert "catnop" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("loop", ["demikernel", "asyncio"])
def test_echo_server_and_client(tmp_path: pathlib.Path, loop: str) -> None:
    server = subprocess.Popen(
        [*CLI, "echo-server", "--libos", "catnap", "--addr", "127.0.0.1:0", "--loop", loop],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line.startswith("listening on 127.0.0.1:"), line
        addr = line.split()[2]
        report = tmp_path / "client.json"
        out = run(
            "echo-client", "--libos", "catnap", "--addr", addr, "--size", "1024", "--count", "500",
            "--concurrency", "4", "--json", str(report),
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert "req/s" in out.stdout and "p99.9" in out.stdout
        figures = json.loads(report.read_text())
        assert figures["count"] == 500 and len(figures["latencies_ns"]) == 500
        assert figures["requests_per_second"] > 0
    finally:
        server.terminate()
        _, err = server.communicate(timeout=10)
    assert server.returncode == 0, err


def test_bench_quick(tmp_path: pathlib.Path) -> None:
    report = tmp_path / "bench.json"
    plot = tmp_path / "cdf.png"
    out = run(
        "bench", "--count", "300", "--concurrency", "2", "--overhead-count", "200", "--idle-seconds", "0.2",
        "--json", str(report), "--plot", str(plot),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", "a PNG latency CDF was written"
    assert "demikernel/catnap" in out.stdout and "asyncio" in out.stdout
    figures = json.loads(report.read_text())
    assert set(figures["echo"]) >= {"demikernel/catnap", "asyncio"}
    assert figures["overhead_ns"]["python_await_completed_ns"] > 0
    assert figures["overhead_ns"]["rust_roundtrip_tcp_ns"] > 0
