"""``python -m demikernel``: info, echo-server, echo-client, bench. Bad flags: usage and exit code 2."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
from collections.abc import Sequence

from . import LibOS, __version__, liboses


def _addr(text: str) -> tuple[str, int]:
    from .bench import parse_addr

    try:
        return parse_addr(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m demikernel", description="demikernel from the command line")
    p.add_argument("--version", action="version", version=f"demikernel {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("info", help="version, libOSes compiled in, which are usable here and why not")

    server = sub.add_parser("echo-server", help="serve TCP echo (streams API) until interrupted")
    server.add_argument("--libos", help="libOS name (default: DEMI_LIBOS or catnap)")
    server.add_argument("--addr", type=_addr, required=True, help="HOST:PORT to listen on (port 0: any)")
    server.add_argument("--config", help="configuration file (TOML or YAML)")
    server.add_argument(
        "--loop",
        choices=["demikernel", "asyncio", "uvloop"],
        default="demikernel",
        help="event loop and streams to serve with (asyncio/uvloop: no demikernel, for comparison)",
    )

    client = sub.add_parser("echo-client", help="closed-loop echo client; prints latency percentiles")
    client.add_argument("--libos", help="libOS name (default: DEMI_LIBOS or catnap)")
    client.add_argument("--addr", type=_addr, required=True, help="HOST:PORT of the echo server")
    client.add_argument("--config", help="configuration file (TOML or YAML)")
    client.add_argument("--size", type=_positive, default=1024, help="request size in bytes (1024)")
    client.add_argument("--count", type=_positive, default=10000, help="requests in all (10000)")
    client.add_argument("--concurrency", type=_positive, default=1, help="connections, one request each (1)")
    client.add_argument("--json", metavar="FILE", help="write the raw figures (latencies in ns) here")
    client.add_argument("--no-progress", action="store_true", help="no progress bar")

    bench = sub.add_parser("bench", help="echo on each usable libOS vs uvloop vs asyncio, side by side")
    bench.add_argument("--size", type=_positive, default=1024, help="request size in bytes (1024)")
    bench.add_argument("--count", type=_positive, default=20000, help="requests per server (20000)")
    bench.add_argument("--concurrency", type=_positive, default=10, help="connections (10)")
    bench.add_argument("--overhead-count", type=_positive, default=20000, help="iterations of the overhead loops")
    bench.add_argument("--idle-seconds", type=float, default=1.0, help="how long to sample idle server CPU")
    bench.add_argument("--json", metavar="FILE", help="write the raw figures here")
    bench.add_argument("--plot", metavar="FILE.png", help="draw a latency CDF (needs matplotlib)")
    bench.add_argument(
        "--catnip",
        nargs=2,
        metavar=("SERVER.toml", "CLIENT.toml"),
        help="include a catnip server and client joined by a DPDK link (e.g. ci/bench/catnip-memif-*.toml)",
    )
    return p


def _libos(name: str | None, config: str | None) -> LibOS:
    return LibOS(name, config)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return _run(args)
    except KeyboardInterrupt:
        return 130
    except (OSError, ValueError) as e:
        print(f"demikernel: {e}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    if args.command == "info":
        print(f"demikernel {__version__} (Python {sys.version.split()[0]})")
        print("libOSes:")
        for info in liboses():
            state = "usable" if info.usable else f"not usable: {info.reason}"
            print(f"  {info.name:8} {'compiled' if info.compiled else 'not compiled':12} {state}")
            print(f"  {'':8} {info.description}")
        try:
            import uvloop  # noqa: F401

            print(f"uvloop {importlib.metadata.version('uvloop')} available for comparison")
        except ImportError:
            print("uvloop not installed (bench compares with it when it is)")
        return 0

    from . import bench

    if args.command == "echo-server":
        libos = _libos(args.libos, args.config) if args.loop == "demikernel" else None
        bench.echo_server(args.addr, args.loop, libos)
        return 0

    if args.command == "echo-client":
        libos = _libos(args.libos, args.config)
        progress = bench.Progress(args.count, "echo", enabled=False if args.no_progress else None)
        result = bench.echo_client(libos, args.addr, args.size, args.count, args.concurrency, progress)
        s = result.summary()
        print(
            f"{result.count} requests of {result.size} B over {result.concurrency} connections in "
            f"{result.seconds:.3f} s: {s['requests_per_second']:.0f} req/s, {s['megabytes_per_second']:.1f} MB/s"
        )
        print(f"round trip p50 {s['p50_us']} us  p90 {s['p90_us']} us  p99 {s['p99_us']} us  p99.9 {s['p99.9_us']} us")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(bench.result_json(result), f)
        libos.shutdown()
        return 0

    if args.command == "bench":
        if args.plot:
            try:
                import matplotlib  # type: ignore[import-not-found,unused-ignore]  # noqa: F401
            except ImportError:
                print("demikernel: --plot needs matplotlib (pip install matplotlib)", file=sys.stderr)
                return 2
        link = (args.catnip[0], args.catnip[1]) if args.catnip else None
        report = bench.run_bench(
            args.size, args.count, args.concurrency, args.idle_seconds, args.overhead_count, catnip_link=link
        )
        if args.json:
            bench.write_json(report, args.json)
        if args.plot:
            bench.plot_cdf(report, args.plot)
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
