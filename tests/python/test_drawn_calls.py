"""Drawn sequences of calls on the Python surface, as an application might make them in any order: sockets,
in-memory queues, tokens, scatter-gather arrays and their memoryviews, with arguments mostly valid and sometimes
not (closed or unknown descriptors, freed arrays, ints past any C type, negative sizes, odd options).

Checked, for every call: it returns, or raises a `DemiError` (its subclasses included), a `TypeError` for a wrong
type, or a `BufferError` for an array with live memoryviews; never another exception, and never a crash. A token's
result is delivered once: a second wait raises `DemiError`. At the end, once every queue is closed, every
outstanding token completes. `DEMI_PY_DRAWN_SEEDS` sets how many seeds run (default 12, 250 calls each)."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from typing import Any

import demikernel as demi
import pytest

SEEDS = int(os.environ.get("DEMI_PY_DRAWN_SEEDS", "12"))
CALLS = 250
EXPECTED = (demi.DemiError, TypeError, BufferError)
WEIRD_INTS = [-(2**70), -(2**63), -1, 0, 2**31, 2**40, 2**63, 2**70]
ADDRESS = "127.0.0.1"


class Drawn:
    """One seed's state: what the calls made, for later calls to use."""

    def __init__(self, libos: demi.LibOS, seed: int) -> None:
        self.libos = libos
        self.rng = random.Random(seed)
        self.queues: list[int] = []
        # Descriptors a call suits: four calls in five go to one (bound, listening, connected or in-memory).
        self.bound: list[int] = []
        self.listening: list[int] = []
        self.streams: list[int] = []
        self.ports: list[int] = []
        self.tokens: list[demi.QToken] = []
        self.taken: list[demi.QToken] = []
        self.sgas: list[demi.Sga] = []
        self.views: list[memoryview] = []

    def int_or(self, choices: list[int]) -> int:
        """One of `choices`; one time in ten, or when it is empty, an odd int (negative, zero, past a C type)."""
        rng = self.rng
        return rng.choice(WEIRD_INTS) if rng.random() < 0.1 or not choices else rng.choice(choices)

    def qd(self, suited: list[int] | None = None) -> int:
        """A descriptor: from `suited` four times in five when it has one, else any (or a weird int)."""
        if suited and self.rng.random() < 0.8:
            return self.rng.choice(suited)
        return self.int_or(self.queues)

    def address(self) -> tuple[str, int]:
        rng = self.rng
        if self.listening and rng.random() < 0.6:
            qd = rng.choice(self.listening)
            try:
                return self.libos.getsockname(qd)
            except demi.DemiError:
                pass
        if self.ports and rng.random() < 0.7:
            return (ADDRESS, rng.choice(self.ports))
        return (ADDRESS, rng.choice([0, 1, 65535, 70000, -1, 2**70]))

    def data(self) -> Any:
        rng = self.rng
        if self.sgas and rng.random() < 0.3:
            return rng.choice(self.sgas)
        return rng.randbytes(rng.choice([0, 1, 64, 1500, 9000]))

    def timeout(self) -> float | int:
        return self.rng.choice([0, 0.001, 0.005, 0.01])

    def token(self) -> demi.QToken | None:
        pool = self.tokens + self.taken[-3:]
        return self.rng.choice(pool) if pool else None

    def started(self, qt: demi.QToken) -> None:
        self.tokens.append(qt)

    def finished(self, qt: demi.QToken, result: demi.QResult) -> None:
        if qt in self.tokens:
            self.tokens.remove(qt)
            self.taken.append(qt)
        else:
            pytest.fail(f"{qt!r}: a result delivered twice ({result!r})")
        if result.opcode == demi.Opcode.ACCEPT and isinstance(result.value, int):
            self.queues.append(result.value)
            self.streams.append(result.value)
        if result.opcode == demi.Opcode.CONNECT:
            self.streams.append(result.qd)
        if result.opcode == demi.Opcode.POP and isinstance(result.value, demi.Sga):
            self.sgas.append(result.value)

    # ---- the calls ----

    def socket(self) -> None:
        rng = self.rng
        domain = demi.AF_INET if rng.random() < 0.9 else rng.choice([*WEIRD_INTS, 99])
        kind = rng.choice([demi.SOCK_STREAM, demi.SOCK_STREAM, demi.SOCK_DGRAM, 77, 2**70])
        self.queues.append(self.libos.socket(domain, kind))

    def queue(self) -> None:
        qd = self.libos.queue()
        self.queues.append(qd)
        self.streams.append(qd)

    def bind(self) -> None:
        qd = self.qd()
        self.libos.bind(qd, self.address() if self.rng.random() < 0.3 else (ADDRESS, 0))
        self.bound.append(qd)
        self.ports.append(self.libos.getsockname(qd)[1])

    def listen(self) -> None:
        qd = self.qd(self.bound)
        self.libos.listen(qd, self.int_or([1, 8, 128]))
        self.listening.append(qd)

    def accept(self) -> None:
        self.started(self.libos.accept(self.qd(self.listening)))

    def connect(self) -> None:
        self.started(self.libos.connect(self.qd(), self.address()))

    def push(self) -> None:
        self.started(self.libos.push(self.qd(self.streams), self.data()))

    def pushto(self) -> None:
        self.started(self.libos.pushto(self.qd(), self.data(), self.address()))

    def pop(self) -> None:
        max_len = None if self.rng.random() < 0.6 else self.int_or([1, 100, 65536])
        self.started(self.libos.pop(self.qd(self.streams), max_len))

    def close(self) -> None:
        qd = self.qd()
        self.libos.close(qd)
        for pool in (self.queues, self.bound, self.listening, self.streams):
            while qd in pool:
                pool.remove(qd)

    def async_close(self) -> None:
        self.started(self.libos.async_close(self.qd()))

    def sgaalloc(self) -> None:
        self.sgas.append(self.libos.sgaalloc(self.int_or([1, 64, 4096, 65536])))

    def sgafree(self) -> None:
        if self.sgas:
            self.libos.sgafree(self.rng.choice(self.sgas))

    def view(self) -> None:
        if self.sgas:
            sga = self.rng.choice(self.sgas)
            view = memoryview(sga)
            self.views.append(view)
            if len(view) and not view.readonly:
                view[0] = 0x5A

    def release(self) -> None:
        if self.views:
            self.views.pop(self.rng.randrange(len(self.views))).release()

    def read_sga(self) -> None:
        if self.sgas:
            sga = self.rng.choice(self.sgas)
            assert len(bytes(sga)) == len(sga)

    def wait(self) -> None:
        qt = self.token()
        if qt is None:
            return
        try:
            result = self.libos.wait(qt, timeout=self.timeout())
        except demi.DemiError as e:
            if isinstance(e, TimeoutError):
                return
            if qt in self.tokens:
                # The operation failed: its result (the error) is delivered, once.
                self.tokens.remove(qt)
                self.taken.append(qt)
            raise
        self.finished(qt, result)

    def wait_any(self) -> None:
        pool = self.rng.sample(self.tokens, min(len(self.tokens), self.rng.randint(1, 4)))
        if not pool:
            return
        index, result = self.libos.wait_any(pool, timeout=self.timeout())
        self.finished(pool[index], result)

    def wait_all(self) -> None:
        pool = self.rng.sample(self.tokens, min(len(self.tokens), self.rng.randint(0, 3)))
        for qt, result in zip(pool, self.libos.wait_all(pool, timeout=self.timeout()), strict=True):
            self.finished(qt, result)

    def options(self) -> None:
        rng = self.rng
        level, name = rng.choice(
            [
                (demi.SOL_SOCKET, demi.SO_REUSEADDR),
                (demi.SOL_SOCKET, demi.SO_KEEPALIVE),
                (demi.SOL_SOCKET, demi.SO_LINGER),
                (demi.IPPROTO_TCP, demi.TCP_NODELAY),
                (rng.choice(WEIRD_INTS), rng.choice(WEIRD_INTS)),
            ]
        )
        qd = self.qd()
        if rng.random() < 0.5:
            self.libos.getsockopt(qd, level, name)
        else:
            value = rng.choice([True, False, 0, 1, None, 2**70, -(2**70), 0.5, 10**400, "x"])
            self.libos.setsockopt(qd, level, name, value)

    def names(self) -> None:
        qd = self.qd()
        self.libos.getsockname(qd) if self.rng.random() < 0.5 else self.libos.getpeername(qd)

    def poll(self) -> None:
        self.libos.poll()

    def drawn_call(self) -> Callable[[], None]:
        calls = [
            (self.socket, 6),
            (self.queue, 2),
            (self.bind, 4),
            (self.listen, 3),
            (self.accept, 3),
            (self.connect, 4),
            (self.push, 6),
            (self.pushto, 2),
            (self.pop, 6),
            (self.close, 3),
            (self.async_close, 1),
            (self.sgaalloc, 3),
            (self.sgafree, 2),
            (self.view, 2),
            (self.release, 2),
            (self.read_sga, 1),
            (self.wait, 8),
            (self.wait_any, 3),
            (self.wait_all, 2),
            (self.options, 3),
            (self.names, 2),
            (self.poll, 2),
        ]
        return self.rng.choices([c for c, _ in calls], weights=[w for _, w in calls])[0]


@pytest.mark.parametrize("seed", range(SEEDS))
def test_drawn_call_sequences_fail_only_with_documented_errors(libos: demi.LibOS, seed: int) -> None:
    drawn = Drawn(libos, seed)
    for step in range(CALLS):
        call = drawn.drawn_call()
        try:
            call()
        except EXPECTED:
            pass
        except Exception as e:  # anything else is the failure this test looks for
            pytest.fail(f"seed {seed}, call {step} ({call.__name__}): {type(e).__name__}: {e}")
    # A second wait on a token whose result was delivered raises DemiError.
    for qt in drawn.taken[:5]:
        with pytest.raises(demi.DemiError):
            libos.wait(qt, timeout=0)
    for view in drawn.views:
        view.release()
    for qd in list(drawn.queues):
        try:
            libos.close(qd)
        except demi.DemiError:
            pass
    # Every queue closed: every outstanding token completes, with a result or an error in place.
    results = libos.wait_all(drawn.tokens, timeout=5)
    assert len(results) == len(drawn.tokens)
