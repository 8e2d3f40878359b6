"""demikernel: a datapath OS after the SOSP '21 Demikernel paper, from Python.

One queue-based I/O API (PDPIX) over several library OSes (today catnap, POSIX sockets)::

    import demikernel as demi

    libos = demi.LibOS("catnap")            # or LibOS() for DEMI_LIBOS / DEMI_CONFIG
    qd = libos.socket(demi.AF_INET, demi.SOCK_STREAM)
    libos.wait(libos.connect(qd, ("127.0.0.1", 8080)))
    libos.wait(libos.push(qd, b"hello"))
    reply = libos.wait(libos.pop(qd)).value  # an Sga: bytes(reply), memoryview(reply)

Every ``QToken`` is awaitable; ``demikernel.run(main())`` runs ``main`` on a demikernel-aware event loop, and
``demikernel.asyncio`` has ``open_connection`` / ``start_server`` streams.
"""

from __future__ import annotations

import errno
import threading

from . import _aio
from . import errors as _errors
from ._demikernel import (
    AF_INET,
    IPPROTO_TCP,
    IPPROTO_UDP,
    SO_KEEPALIVE,
    SO_LINGER,
    SO_REUSEADDR,
    SOCK_DGRAM,
    SOCK_STREAM,
    SOL_SOCKET,
    TCP_NODELAY,
    LibOS,
    Opcode,
    QResult,
    QToken,
    Sga,
    __version__,
)
from ._demikernel import liboses as _liboses
from ._demikernel import set_await_hook as _set_await_hook
from ._demikernel import set_error_classes as _set_error_classes
from .errors import DemiError, DemiRuntimeError, DemiValueError

_set_await_hook(_aio.await_pending)
_set_error_classes(DemiError, DemiValueError, DemiRuntimeError, _errors._by_errno())

from .asyncio import run  # noqa: E402  (needs the hook above)

__all__ = [
    "AF_INET",
    "IPPROTO_TCP",
    "IPPROTO_UDP",
    "SOCK_DGRAM",
    "SOCK_STREAM",
    "SOL_SOCKET",
    "SO_KEEPALIVE",
    "SO_LINGER",
    "SO_REUSEADDR",
    "TCP_NODELAY",
    "DemiError",
    "DemiRuntimeError",
    "DemiValueError",
    "LibOS",
    "LibOSInfo",
    "Opcode",
    "QResult",
    "QToken",
    "Sga",
    "__version__",
    "default_libos",
    "liboses",
    "run",
]


class LibOSInfo:
    """One libOS of the project: its name, whether this build has it, and whether it runs here (and if not,
    why not)."""

    __slots__ = ("compiled", "description", "name", "reason")

    def __init__(self, name: str, compiled: bool, description: str, reason: str | None) -> None:
        self.name = name
        self.compiled = compiled
        self.description = description
        #: None when the libOS can be started on this machine; else why not.
        self.reason = reason

    @property
    def usable(self) -> bool:
        """Whether a LibOS of this name can be made on this machine."""
        return self.reason is None

    def __repr__(self) -> str:
        state = "usable" if self.usable else f"unusable: {self.reason}"
        return f"<LibOSInfo {self.name} ({state})>"


def liboses() -> list[LibOSInfo]:
    """Every libOS of the project, each tried once on this machine (a usable one is started and shut down)."""
    out = []
    for name, compiled, description in _liboses():
        reason: str | None = None
        if not compiled:
            reason = f"not compiled into this build ({description})"
        else:
            try:
                LibOS(name).shutdown()
            except OSError as e:
                # EBUSY: catnip's one DPDK port is in use by a LibOS of this process, so it does run here.
                if e.errno != errno.EBUSY:
                    reason = str(e)
            except ValueError as e:
                reason = str(e)
        out.append(LibOSInfo(name, compiled, description, reason))
    return out


_default = threading.local()


def default_libos() -> LibOS:
    """This thread's default LibOS, made on first use from the environment (``DEMI_LIBOS``, ``DEMI_CONFIG``;
    catnap otherwise). Streams use it when no ``libos=`` is given."""
    libos: LibOS | None = getattr(_default, "libos", None)
    if libos is None or libos.closed:
        libos = LibOS()
        _default.libos = libos
    return libos
