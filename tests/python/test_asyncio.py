"""Awaiting qtokens: on demikernel's loop, on a stock asyncio loop and on uvloop; cancellation; idling."""

from __future__ import annotations

import asyncio
import errno
import time
from collections.abc import Callable, Coroutine
from typing import Any

import demikernel as demi
import demikernel.asyncio as demi_asyncio
import pytest
from conftest import connected_pair

Runner = Callable[[Coroutine[Any, Any, Any]], Any]


def _uvloop_run(main: Coroutine[Any, Any, Any]) -> Any:
    uvloop = pytest.importorskip("uvloop")
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


RUNNERS: dict[str, Runner] = {"demikernel": demi.run, "stock": asyncio.run, "uvloop": _uvloop_run}


@pytest.fixture(params=list(RUNNERS))
def run(request: pytest.FixtureRequest) -> Runner:
    return RUNNERS[request.param]


def test_demikernel_loop_is_a_selector_loop() -> None:
    loop = demi_asyncio.new_event_loop()
    try:
        assert isinstance(loop, asyncio.SelectorEventLoop)
    finally:
        loop.close()
    with asyncio.Runner(loop_factory=demi_asyncio.new_event_loop) as runner:
        assert runner.run(asyncio.sleep(0, result=7)) == 7
        assert isinstance(runner.get_loop(), demi_asyncio.EventLoop)


def test_await_tcp_echo(libos: demi.LibOS, run: Runner) -> None:
    async def main() -> bytes:
        listener = libos.socket()
        libos.bind(listener, ("127.0.0.1", 0))
        libos.listen(listener)
        client = libos.socket()
        accept = libos.accept(listener)
        connected = await libos.connect(client, libos.getsockname(listener))
        assert connected.opcode == demi.Opcode.CONNECT
        server = (await accept).value
        pop = libos.pop(server)  # pending before the data arrives

        async def later() -> None:
            await asyncio.sleep(0.01)
            await libos.push(client, b"ping")

        task = asyncio.create_task(later())
        data = bytes((await pop).value)
        await task
        return data

    assert run(main()) == b"ping"


def test_await_completed_token_returns_at_once(libos: demi.LibOS, run: Runner) -> None:
    async def main() -> int:
        qd = libos.queue()
        push = libos.push(qd, b"x")
        assert push.done()
        result = await push
        with pytest.raises(OSError) as info:
            await push  # delivered once
        assert info.value.errno == errno.EINVAL
        return int(result.opcode == demi.Opcode.PUSH)

    assert run(main()) == 1


def test_failures_raise_in_the_task(libos: demi.LibOS, run: Runner) -> None:
    async def main() -> None:
        qd = libos.socket()
        with socket_port() as port:
            pass
        with pytest.raises(ConnectionRefusedError):
            await libos.connect(qd, ("127.0.0.1", port))

    run(main())


class socket_port:
    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        port: int = self.sock.getsockname()[1]
        return port

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def test_many_tasks_on_a_memory_queue(libos: demi.LibOS, run: Runner) -> None:
    async def main() -> list[bytes]:
        qd = libos.queue()

        async def consumer() -> bytes:
            return bytes((await libos.pop(qd)).value)

        consumers = [asyncio.create_task(consumer()) for _ in range(50)]
        await asyncio.sleep(0)
        for i in range(50):
            await libos.push(qd, b"%02d" % i)
        return sorted(await asyncio.gather(*consumers))

    assert run(main()) == [b"%02d" % i for i in range(50)]


def test_cancellation_keeps_the_result(libos: demi.LibOS, run: Runner) -> None:
    async def main() -> None:
        qd = libos.queue()
        pop = libos.pop(qd)

        async def waiter() -> demi.QResult:
            return await pop

        task = asyncio.create_task(waiter())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert task.cancelled()
        await libos.push(qd, b"kept")
        await asyncio.sleep(0.01)
        # The libOS is consistent and the token still delivers its result.
        assert bytes((await pop).value) == b"kept"
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(_never(libos, qd), 0.02)

    run(main())


async def _never(libos: demi.LibOS, qd: int) -> demi.QResult:
    return await libos.pop(qd)


def test_wait_for_timeout_then_sync_wait(libos: demi.LibOS, run: Runner) -> None:
    async def main() -> demi.QToken:
        qd = libos.queue()
        pop = libos.pop(qd)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(_await(pop), 0.01)
        await libos.push(qd, b"after")
        return pop

    pop = run(main())
    assert bytes(pop.libos.wait(pop, timeout=1).value) == b"after"


async def _await(qt: demi.QToken) -> demi.QResult:
    return await qt


def test_shutdown_fails_pending_awaits(run: Runner) -> None:
    libos = demi.LibOS("catnap")

    async def main() -> None:
        pop = libos.pop(libos.queue())
        task = asyncio.create_task(_await(pop))
        await asyncio.sleep(0.01)
        libos.shutdown()
        with pytest.raises(OSError) as info:
            await task
        assert info.value.errno == errno.ECANCELED

    run(main())


def test_await_needs_a_running_loop(libos: demi.LibOS) -> None:
    pop = libos.pop(libos.queue())
    coro = _await(pop)
    with pytest.raises(RuntimeError):
        coro.send(None)
    coro.close()


def test_demikernel_loop_sleeps_when_idle(libos: demi.LibOS) -> None:
    """A loop waiting on a socket burns no CPU: it sleeps in the selector. A poll-mode libOS (catnip: no
    event fd, no interrupt to wake it) must poll while an operation is awaited, so there the loop must sleep
    when nothing is awaited, and the awaited pop starts after the idle time."""
    poll_mode = libos.event_fd() is None

    async def main() -> float:
        _, client, server = connected_pair(libos)
        pop = None if poll_mode else asyncio.ensure_future(_await(libos.pop(server)))
        await asyncio.sleep(0.01)
        cpu = time.process_time()
        await asyncio.sleep(0.5)
        used = time.process_time() - cpu
        if pop is None:
            pop = asyncio.ensure_future(_await(libos.pop(server)))
        await libos.push(client, b"wake")
        assert bytes((await pop).value) == b"wake"
        return used

    used = demi.run(main())
    assert used < 0.1, f"{used:.3f} s of CPU in 0.5 s idle"
