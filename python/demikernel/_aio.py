"""How ``await qtoken`` reaches an event loop (internal).

A token that already finished is handled in native code without a future. For one still in flight, the
native ``QToken.__await__`` calls ``await_pending``: it makes a future on the running loop, registers it with
the token's LibOS (``QToken._watch``), and makes sure the loop drives that LibOS:

- on ``demikernel.asyncio``'s loop, its selector polls every attached LibOS once per iteration and sleeps in
  the OS selector (the LibOS's ``event_fd`` is registered there) when nothing is ready;
- on any other loop (stock asyncio, uvloop), a ``StockPoller`` polls by callbacks: at once while work is
  ready, on the LibOS's ``event_fd`` via ``add_reader`` when the loop supports it, else on a short timer.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._demikernel import LibOS, QToken

#: Longest sleep between polls on a loop that cannot watch the libOS's event fd, or while timers run.
STOCK_POLL_INTERVAL = 0.01

_stock_pollers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, StockPoller] = weakref.WeakKeyDictionary()


def await_pending(qt: QToken) -> Generator[Any, None, Any]:
    """The ``__await__`` iterator for a token still in flight."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    qt._watch(future)
    libos = qt.libos
    attach = getattr(loop, "_demi_attach", None)
    if attach is not None:
        attach(libos)
    else:
        poller = _stock_pollers.get(loop)
        if poller is None:
            poller = _stock_pollers[loop] = StockPoller(loop)
        poller.attach(libos)
    return future.__await__()


class StockPoller:
    """Drives LibOSes on an event loop that knows nothing of them, while their tokens are awaited."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._liboses: dict[LibOS, int | None] = {}
        self._soon = False
        self._timer: asyncio.TimerHandle | None = None

    def attach(self, libos: LibOS) -> None:
        if libos not in self._liboses:
            fd = libos.event_fd()
            if fd is not None:
                try:
                    self._loop.add_reader(fd, self._tick)
                except (NotImplementedError, RuntimeError, ValueError, OSError):
                    fd = None
            self._liboses[libos] = fd
        if not self._soon:
            self._soon = True
            self._loop.call_soon(self._tick)

    def _detach(self, libos: LibOS) -> None:
        fd = self._liboses.pop(libos, None)
        if fd is not None:
            try:
                self._loop.remove_reader(fd)
            except (RuntimeError, ValueError, OSError):
                pass

    def _tick(self) -> None:
        self._soon = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        busy = False
        sleep: float = STOCK_POLL_INTERVAL
        for libos in list(self._liboses):
            try:
                if libos._dispatch():
                    busy = True
                if not libos._has_waiters():
                    self._detach(libos)
                    continue
                idle = libos._idle_timeout()
            except OSError:  # shut down: its futures were failed with ECANCELED
                self._detach(libos)
                continue
            if idle is not None:
                sleep = min(sleep, idle)
            if self._liboses[libos] is None:
                sleep = min(sleep, STOCK_POLL_INTERVAL)
        if not self._liboses or self._loop.is_closed():
            return
        if busy or sleep <= 0:
            self._soon = True
            self._loop.call_soon(self._tick)
        else:
            self._timer = self._loop.call_later(sleep, self._tick)
