"""pytest fixtures for testing code against every libOS usable on the machine.

Installed as a pytest plugin (entry point ``demikernel``), so with the package installed::

    def test_echo(libos):                     # runs once per usable libOS; the others are skipped
        qd = libos.queue()
        libos.wait(libos.push(qd, b"x"))

Fixtures:

- ``libos_name``: the name of each libOS of the project; unusable ones are skipped with the reason
  (not compiled in, no device, ...).
- ``libos``: a fresh ``LibOS`` of that name, shut down after the test.
- ``demi_loop``: a new ``demikernel.asyncio`` event loop, closed after the test.
- ``demi_run``: runs a coroutine to completion on a demikernel-aware loop (``demi_run(main())``).

Set ``DEMI_TEST_LIBOSES=catnap,catnip`` to restrict the libOSes.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from . import LibOS, LibOSInfo, liboses
from . import asyncio as demi_asyncio

_T = TypeVar("_T")


@functools.cache
def _infos() -> tuple[LibOSInfo, ...]:
    return tuple(liboses())


def libos_params() -> list[Any]:
    """``pytest.param`` per libOS, marked skip (with the reason) where it cannot run here."""
    wanted = {n.strip() for n in os.environ.get("DEMI_TEST_LIBOSES", "").split(",") if n.strip()}
    params = []
    for info in _infos():
        marks = []
        if wanted and info.name not in wanted:
            marks.append(pytest.mark.skip(reason=f"{info.name}: not in DEMI_TEST_LIBOSES"))
        elif not info.usable:
            marks.append(pytest.mark.skip(reason=f"{info.name}: {info.reason}"))
        params.append(pytest.param(info.name, id=info.name, marks=marks))
    return params


def usable_libos_names() -> list[str]:
    """Names of the libOSes that can be started on this machine."""
    return [info.name for info in _infos() if info.usable]


@pytest.fixture(params=libos_params())
def libos_name(request: pytest.FixtureRequest) -> str:
    """The name of a libOS under test (parametrized over all of them; unusable ones skipped)."""
    name: str = request.param
    return name


@pytest.fixture
def libos(libos_name: str) -> Iterator[LibOS]:
    """A fresh LibOS of each usable kind, shut down after the test."""
    instance = LibOS(libos_name)
    try:
        yield instance
    finally:
        instance.shutdown()


@pytest.fixture
def demi_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """A new demikernel-aware event loop, closed after the test."""
    loop = demi_asyncio.new_event_loop()
    try:
        yield loop
    finally:
        loop.close()


@pytest.fixture
def demi_run() -> Callable[[Coroutine[Any, Any, Any]], Any]:
    """Runs a coroutine on a demikernel-aware loop: ``demi_run(main())``."""

    def run(main: Coroutine[Any, Any, _T]) -> _T:
        return demi_asyncio.run(main)

    return run
