"""Echo server, echo client and benchmarks behind ``python -m demikernel`` (see docs/python.md).

- ``echo_server``: one streams-API echo handler, served on demikernel's loop or on stock asyncio / uvloop.
- ``echo_client``: a closed-loop client on the synchronous API: ``concurrency`` connections, each with one
  request of ``size`` bytes in flight; round-trip latencies in nanoseconds.
- ``overhead``: what Python adds per operation, next to the same loops in Rust on the same LibOS.
- ``run_bench``: all of it side by side in one run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

from . import AF_INET, IPPROTO_TCP, SOCK_STREAM, TCP_NODELAY, LibOS, QToken, __version__, liboses
from . import _demikernel as native
from . import asyncio as demi_asyncio

LOOPS = ("demikernel", "asyncio", "uvloop")


def parse_addr(text: str) -> tuple[str, int]:
    """``HOST:PORT`` to ``(host, port)``."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host or "0.0.0.0", int(port)


async def echo_handler(reader: Any, writer: Any) -> None:
    """The echo server's connection handler, written once against the streams API (asyncio's or ours)."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


def echo_server(addr: tuple[str, int], loop: str = "demikernel", libos: LibOS | None = None) -> None:
    """Serves ``echo_handler`` until SIGINT/SIGTERM; prints ``listening on HOST:PORT`` once ready."""

    async def main() -> None:
        if loop == "demikernel":
            server: Any = await demi_asyncio.start_server(echo_handler, addr[0], addr[1], libos=libos)
        else:
            server = await asyncio.start_server(echo_handler, addr[0], addr[1])
        host, port = server.sockets[0].getsockname()[:2]
        print(f"listening on {host}:{port} ({loop})", flush=True)
        stop: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_signal() -> None:
            if not stop.done():
                stop.set_result(None)

        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, on_signal)
        async with server:
            await stop

    if loop == "demikernel":
        demi_asyncio.run(main())
    elif loop == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main())
    else:
        asyncio.run(main())


@dataclass
class ClientResult:
    """What one echo-client run measured."""

    size: int
    count: int
    concurrency: int
    seconds: float
    latencies_ns: list[int] = field(repr=False)

    @property
    def requests_per_second(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0

    @property
    def megabytes_per_second(self) -> float:
        return 2 * self.size * self.requests_per_second / 1e6

    def percentile_us(self, p: float) -> float:
        ordered = sorted(self.latencies_ns)
        if not ordered:
            return 0.0
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
        return ordered[index] / 1000

    def summary(self) -> dict[str, float]:
        return {
            "requests_per_second": round(self.requests_per_second, 1),
            "megabytes_per_second": round(self.megabytes_per_second, 2),
            "p50_us": round(self.percentile_us(50), 1),
            "p90_us": round(self.percentile_us(90), 1),
            "p99_us": round(self.percentile_us(99), 1),
            "p99.9_us": round(self.percentile_us(99.9), 1),
        }


class Progress:
    """A one-line progress bar on a terminal (nothing otherwise)."""

    def __init__(self, total: int, label: str, out: TextIO = sys.stderr, enabled: bool | None = None) -> None:
        self.total = total
        self.label = label
        self.out = out
        self.enabled = out.isatty() if enabled is None else enabled
        self.started = time.monotonic()
        self.shown = 0.0

    def update(self, done: int) -> None:
        now = time.monotonic()
        # Only long runs get a bar: after one second, at most five updates a second.
        if not self.enabled or now - self.started < 1.0 or now - self.shown < 0.2:
            return
        self.shown = now
        width = 30
        filled = width * done // max(1, self.total)
        rate = done / (now - self.started)
        self.out.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} {rate:,.0f}/s")
        self.out.flush()

    def close(self) -> None:
        if self.enabled and self.shown:
            self.out.write("\n")
            self.out.flush()


def echo_client(
    libos: LibOS,
    addr: tuple[str, int],
    size: int,
    count: int,
    concurrency: int,
    progress: Progress | None = None,
) -> ClientResult:
    """A closed-loop echo client: ``concurrency`` connections, one ``size``-byte request each in flight,
    ``count`` requests in all."""
    if size < 1 or count < 1 or concurrency < 1:
        raise ValueError("size, count and concurrency must be >= 1")
    concurrency = min(concurrency, count)
    payload = os.urandom(size)
    qds = [libos.socket(AF_INET, SOCK_STREAM, 0) for _ in range(concurrency)]
    try:
        for result in libos.wait_all([libos.connect(qd, addr) for qd in qds], timeout=10):
            if result.error is not None:
                raise result.error
        for qd in qds:
            libos.setsockopt(qd, IPPROTO_TCP, TCP_NODELAY, 1)
        latencies: list[int] = []
        sent_at = [0] * concurrency
        received = [0] * concurrency
        issued = 0
        pushes: list[QToken] = []
        active = list(range(concurrency))
        pops = []
        clock = time.perf_counter_ns
        started = clock()
        for i in active:
            sent_at[i] = clock()
            pushes.append(libos.push(qds[i], payload))
            pops.append(libos.pop(qds[i]))
            issued += 1
        done = 0
        while done < count:
            slot, result = libos.wait_any(pops, timeout=30)
            if result.error is not None:
                raise result.error
            i = active[slot]
            n = len(result.value)
            if n == 0:
                raise ConnectionResetError(f"the server closed connection {i}")
            received[i] += n
            if received[i] < size:
                pops[slot] = libos.pop(qds[i])
                continue
            now = clock()
            latencies.append(now - sent_at[i])
            received[i] = 0
            done += 1
            if progress is not None:
                progress.update(done)
            if issued < count:
                sent_at[i] = now
                pushes.append(libos.push(qds[i], payload))
                issued += 1
                pops[slot] = libos.pop(qds[i])
            else:
                del active[slot]
                del pops[slot]
            if len(pushes) > 2 * concurrency:
                libos.wait_all(pushes, timeout=10)
                pushes.clear()
        seconds = (clock() - started) / 1e9
        if pushes:
            libos.wait_all(pushes, timeout=10)
        return ClientResult(size, count, concurrency, seconds, latencies)
    finally:
        if progress is not None:
            progress.close()
        for qd in qds:
            with contextlib.suppress(OSError):
                libos.close(qd)


def overhead(libos: LibOS, count: int = 20000) -> dict[str, float]:
    """Nanoseconds per operation through Python next to the same loop in Rust, on one LibOS, in one run."""
    out: dict[str, float] = {}
    qd = libos.queue()

    # Waiting for a completed push: Rust's wait vs Python's `await qt` (and the synchronous `wait`). Tokens
    # are made in batches: an in-memory queue holds 4096 items, and a push to a full queue does not complete.
    batch = min(count, 1000)
    rounds = max(1, count // batch)
    sums = dict.fromkeys(("rust_push", "rust_wait", "await", "wait", "push"), 0.0)

    async def awaits() -> float:
        tokens = [libos.push(qd, b"x") for _ in range(batch)]
        t0 = time.perf_counter_ns()
        for qt in tokens:
            await qt
        elapsed = time.perf_counter_ns() - t0
        for _ in range(batch):
            await libos.pop(qd)
        return elapsed / batch

    loop = demi_asyncio.new_event_loop()
    try:
        for _ in range(rounds):
            rust_push, rust_wait = native.rust_wait_completed(libos, qd, batch)
            sums["rust_push"] += rust_push
            sums["rust_wait"] += rust_wait
            sums["await"] += loop.run_until_complete(awaits())
            t0 = time.perf_counter_ns()
            tokens = [libos.push(qd, b"x") for _ in range(batch)]
            sums["push"] += (time.perf_counter_ns() - t0) / batch
            t0 = time.perf_counter_ns()
            for qt in tokens:
                libos.wait(qt)
            sums["wait"] += (time.perf_counter_ns() - t0) / batch
            for _ in range(batch):
                libos.wait(libos.pop(qd))
    finally:
        loop.close()
    out["rust_push_ns"] = sums["rust_push"] / rounds
    out["rust_wait_completed_ns"] = sums["rust_wait"] / rounds
    out["python_await_completed_ns"] = sums["await"] / rounds
    out["python_wait_completed_ns"] = sums["wait"] / rounds
    out["python_push_ns"] = sums["push"] / rounds

    # Push + pop round trips of 64 bytes: in-memory queue and TCP loopback, Rust vs Python (sync and await).
    data = b"x" * 64
    listener = libos.socket()
    libos.bind(listener, ("127.0.0.1", 0))
    libos.listen(listener)
    client = libos.socket()
    accept = libos.accept(listener)
    libos.wait(libos.connect(client, libos.getsockname(listener)))
    server = libos.wait(accept).value
    libos.setsockopt(client, IPPROTO_TCP, TCP_NODELAY, 1)
    for name, (src, dst) in {"memory": (qd, qd), "tcp": (client, server)}.items():
        out[f"rust_roundtrip_{name}_ns"] = native.rust_roundtrip(libos, src, dst, len(data), count)
        t0 = time.perf_counter_ns()
        for _ in range(count):
            libos.wait(libos.push(src, data))
            got = 0
            while got < len(data):
                got += len(libos.wait(libos.pop(dst)).value)
        out[f"python_roundtrip_{name}_ns"] = (time.perf_counter_ns() - t0) / count

        async def awaited(src: int = src, dst: int = dst) -> float:
            t0 = time.perf_counter_ns()
            for _ in range(count):
                await libos.push(src, data)
                got = 0
                while got < len(data):
                    got += len((await libos.pop(dst)).value)
            return (time.perf_counter_ns() - t0) / count

        out[f"python_await_roundtrip_{name}_ns"] = demi_asyncio.run(awaited())
    for q in (client, server, listener, qd):
        libos.close(q)
    return out


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _catnip_ipv4(config: str) -> str:
    import tomllib

    with open(config, "rb") as f:
        ipv4 = tomllib.load(f).get("catnip", {}).get("ipv4")
    if not isinstance(ipv4, str):
        raise ValueError(f"{config}: no catnip.ipv4")
    return ipv4


def _start_server(
    loop: str, libos_name: str | None, config: str | None = None, before_ready: Any = None
) -> tuple[subprocess.Popen[str], tuple[str, int]]:
    """Starts an echo server; ``before_ready()`` runs between its start and its "listening" line (a catnip
    client must bring its end of the link up before a memif server gets that far)."""
    host = _catnip_ipv4(config) if config else "127.0.0.1"
    cmd = [sys.executable, "-m", "demikernel", "echo-server", "--addr", f"{host}:0", "--loop", loop]
    if libos_name:
        cmd += ["--libos", libos_name]
    if config:
        cmd += ["--config", config]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    if before_ready is not None:
        try:
            before_ready()
        except BaseException:
            proc.kill()
            raise
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"echo server ({loop}) did not start: {line!r}")
    return proc, parse_addr(line.split()[2])


def run_bench(
    size: int = 1024,
    count: int = 20000,
    concurrency: int = 10,
    idle_seconds: float = 1.0,
    overhead_count: int = 20000,
    out: TextIO = sys.stdout,
    catnip_link: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """The whole benchmark, side by side in one run; returns the raw figures and prints a table.

    catnap's server is loaded over kernel loopback by a catnap client in this process. catnip's server needs a
    DPDK link to its client: ``catnip_link`` = (server config, client config), e.g. the memif pair in
    ci/bench/; the client is then a catnip LibOS of this process on the other end. Without it catnip is left
    out (a catnip server is unreachable from the kernel's loopback)."""
    servers: list[tuple[str, str, str | None]] = []
    infos = liboses()
    usable = [info.name for info in infos if info.usable]
    for name in usable:
        if name != "catnip":
            servers.append((f"demikernel/{name}", "demikernel", name))
    if catnip_link is not None:
        # Usable or not with DEMI_CONFIG: the link's own configurations are what count here.
        if any(info.name == "catnip" and info.compiled for info in infos):
            servers.insert(1, ("demikernel/catnip (DPDK link, catnip client)", "demikernel", "catnip"))
        else:
            print("demikernel/catnip: not compiled into this build", file=out)
    elif "catnip" in usable:
        print("demikernel/catnip: left out (needs --catnip SERVER.toml CLIENT.toml: a DPDK link)", file=out)
    try:
        import uvloop  # noqa: F401

        servers.append(("uvloop", "uvloop", None))
    except ImportError:
        print("uvloop is not installed: skipping it", file=out)
    servers.append(("asyncio", "asyncio", None))

    report: dict[str, Any] = {
        "version": __version__,
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
        },
        "params": {"size": size, "count": count, "concurrency": concurrency},
        "overhead_ns": {},
        "echo": {},
    }
    client_libos = LibOS("catnap" if "catnap" in usable else None)
    catnip_client: LibOS | None = None
    try:
        report["overhead_ns"] = overhead(client_libos, overhead_count)
        for label, loop, libos_name in servers:
            if libos_name == "catnip" and catnip_link is not None:
                link = catnip_link

                def open_client(link: tuple[str, str] = link) -> None:
                    nonlocal catnip_client
                    if catnip_client is None:
                        # A memif client fails (once for the process: EAL) if the server's socket is not there yet.
                        with open(link[1]) as f:
                            socket_path = re.search(r"socket=([^,\"]+)", f.read())
                        deadline = time.monotonic() + 30
                        while socket_path and not os.path.exists(socket_path[1]) and time.monotonic() < deadline:
                            time.sleep(0.05)
                        catnip_client = LibOS("catnip", link[1])

                proc, addr = _start_server(loop, libos_name, link[0], open_client)
                assert catnip_client is not None
                client = catnip_client
            else:
                proc, addr = _start_server(loop, libos_name)
                client = client_libos
            try:
                # An idle server with one open connection: its CPU time over `idle_seconds`.
                idle_qd = client.socket()
                client.wait(client.connect(idle_qd, addr), timeout=10)
                time.sleep(0.2)
                cpu0 = _cpu_seconds(proc.pid)
                time.sleep(idle_seconds)
                idle_cpu = (_cpu_seconds(proc.pid) - cpu0) / idle_seconds
                client.close(idle_qd)
                # Warm-up, then the measured run.
                echo_client(client, addr, size, min(count, 1000), concurrency)
                progress = Progress(count, label)
                cpu0 = _cpu_seconds(proc.pid)
                result = echo_client(client, addr, size, count, concurrency, progress)
                busy_cpu = (_cpu_seconds(proc.pid) - cpu0) / result.seconds
            finally:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
            report["echo"][label] = {
                **result.summary(),
                "server_cpu_idle": round(idle_cpu, 4),
                "server_cpu_busy": round(busy_cpu, 3),
                "latencies_ns": result.latencies_ns,
            }
    finally:
        client_libos.shutdown()
        if catnip_client is not None:
            catnip_client.shutdown()
    print_table(report, out)
    return report


def print_table(report: dict[str, Any], out: TextIO = sys.stdout) -> None:
    p = report["params"]
    o = report["overhead_ns"]
    print(
        f"demikernel {report['version']} on {report['machine']['platform']}, {report['machine']['cpus']} CPUs", file=out
    )
    print("\nPython overhead per operation (ns; same LibOS, same run):", file=out)
    rows = [
        ("wait of a completed push", o.get("rust_wait_completed_ns"), o.get("python_await_completed_ns"), "await"),
        ("wait of a completed push", o.get("rust_wait_completed_ns"), o.get("python_wait_completed_ns"), "wait"),
        ("push (start an operation)", o.get("rust_push_ns"), o.get("python_push_ns"), "push"),
        (
            "push+pop round trip, memory queue",
            o.get("rust_roundtrip_memory_ns"),
            o.get("python_roundtrip_memory_ns"),
            "wait",
        ),
        (
            "push+pop round trip, memory queue",
            o.get("rust_roundtrip_memory_ns"),
            o.get("python_await_roundtrip_memory_ns"),
            "await",
        ),
        ("push+pop round trip, TCP loopback", o.get("rust_roundtrip_tcp_ns"), o.get("python_roundtrip_tcp_ns"), "wait"),
        (
            "push+pop round trip, TCP loopback",
            o.get("rust_roundtrip_tcp_ns"),
            o.get("python_await_roundtrip_tcp_ns"),
            "await",
        ),
    ]
    print(f"  {'operation':36} {'via':6} {'Rust':>9} {'Python':>9} {'added':>9}", file=out)
    for name, rust, py, via in rows:
        if rust is None or py is None:
            continue
        print(f"  {name:36} {via:6} {rust:9.0f} {py:9.0f} {py - rust:9.0f}", file=out)
    print(
        f"\nEcho server (streams API), {p['size']} B requests, {p['concurrency']} connections, "
        f"{p['count']} requests, same client:",
        file=out,
    )
    print(
        f"  {'server':20} {'req/s':>9} {'MB/s':>7} {'p50 us':>8} {'p90 us':>8} {'p99 us':>8} {'p99.9 us':>9} "
        f"{'CPU busy':>8} {'CPU idle':>8}",
        file=out,
    )
    for label, r in report["echo"].items():
        print(
            f"  {label:20} {r['requests_per_second']:9.0f} {r['megabytes_per_second']:7.1f} {r['p50_us']:8.1f} "
            f"{r['p90_us']:8.1f} {r['p99_us']:8.1f} {r['p99.9_us']:9.1f} {r['server_cpu_busy']:8.0%} "
            f"{r['server_cpu_idle']:8.1%}",
            file=out,
        )
    base = report["echo"].get("uvloop")
    if base:
        for label, r in report["echo"].items():
            if label.startswith("demikernel/"):
                ratio = r["requests_per_second"] / base["requests_per_second"]
                print(f"  {label} / uvloop: {ratio:.2f}x requests per second", file=out)


def write_json(report: dict[str, Any], path: str) -> None:
    with open(path, "w") as f:
        json.dump(report, f, indent=1)


def plot_cdf(report: dict[str, Any], path: str) -> None:
    """A latency CDF per server (needs matplotlib)."""
    import matplotlib  # type: ignore[import-not-found,unused-ignore]

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # type: ignore[import-not-found,unused-ignore]

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, r in report["echo"].items():
        lat = sorted(x / 1000 for x in r["latencies_ns"])
        if lat:
            ax.plot(lat, [(i + 1) / len(lat) for i in range(len(lat))], label=label)
    p = report["params"]
    ax.set_xscale("log")
    ax.set_xlabel("round trip (us)")
    ax.set_ylabel("fraction of requests")
    ax.set_title(f"echo, {p['size']} B, {p['concurrency']} connections")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def result_json(result: ClientResult) -> dict[str, Any]:
    return {**asdict(result), **result.summary()}
