"""The exceptions demikernel raises: every one is a ``DemiError``, an ``OSError`` with ``.errno`` set.

Each is also the builtin exception Python code already catches for that failure, so both styles work::

    try:
        libos.wait(libos.connect(qd, ("127.0.0.1", 9)), timeout=1)
    except ConnectionRefusedError:          # the builtin class ...
        ...
    except demikernel.DemiError as e:       # ... or any demikernel failure, with e.errno
        ...

An ``OSError`` errno maps to the builtin subclass Python itself picks for it (``ECONNREFUSED`` ->
``DemiConnectionRefusedError``, a ``ConnectionRefusedError``; ``ETIMEDOUT`` -> ``DemiTimeoutError``, ...). Bad
argument values raise ``DemiValueError`` (a ``ValueError``, errno ``EINVAL``); using an object on a thread
that does not own it, or re-entering a busy LibOS, raises ``DemiRuntimeError`` (a ``RuntimeError``, errno
``EPERM`` / ``EBUSY``). Wrong argument *types* are rejected by the binding layer itself with a plain
``TypeError``.
"""

from __future__ import annotations

import errno as _errno


class DemiError(OSError):
    """Base class of every demikernel failure: an ``OSError`` whose ``.errno`` says what went wrong."""


class DemiValueError(DemiError, ValueError):
    """An argument's value is invalid (errno ``EINVAL``)."""


class DemiRuntimeError(DemiError, RuntimeError):
    """The call cannot run in this context: another thread's object (``EPERM``) or a busy LibOS (``EBUSY``)."""


class DemiBlockingIOError(DemiError, BlockingIOError):
    """``EAGAIN``, ``EWOULDBLOCK``, ``EALREADY``, ``EINPROGRESS``."""


class DemiBrokenPipeError(DemiError, BrokenPipeError):
    """``EPIPE``, ``ESHUTDOWN``."""


class DemiConnectionAbortedError(DemiError, ConnectionAbortedError):
    """``ECONNABORTED``."""


class DemiConnectionRefusedError(DemiError, ConnectionRefusedError):
    """``ECONNREFUSED``."""


class DemiConnectionResetError(DemiError, ConnectionResetError):
    """``ECONNRESET``."""


class DemiFileExistsError(DemiError, FileExistsError):
    """``EEXIST``."""


class DemiFileNotFoundError(DemiError, FileNotFoundError):
    """``ENOENT``."""


class DemiInterruptedError(DemiError, InterruptedError):
    """``EINTR``."""


class DemiPermissionError(DemiError, PermissionError):
    """``EACCES``, ``EPERM``."""


class DemiTimeoutError(DemiError, TimeoutError):
    """``ETIMEDOUT``."""


# The builtin OSError subclass Python picks for an errno -> ours.
_BY_BUILTIN: dict[type[OSError], type[DemiError]] = {
    BlockingIOError: DemiBlockingIOError,
    BrokenPipeError: DemiBrokenPipeError,
    ConnectionAbortedError: DemiConnectionAbortedError,
    ConnectionRefusedError: DemiConnectionRefusedError,
    ConnectionResetError: DemiConnectionResetError,
    FileExistsError: DemiFileExistsError,
    FileNotFoundError: DemiFileNotFoundError,
    InterruptedError: DemiInterruptedError,
    PermissionError: DemiPermissionError,
    TimeoutError: DemiTimeoutError,
}


def error_class(code: int) -> type[DemiError]:
    """The ``DemiError`` class raised for errno ``code`` (``DemiError`` itself when no builtin subclass fits)."""
    builtin = type(OSError(code, ""))
    return _BY_BUILTIN.get(builtin, DemiError)


def _by_errno() -> dict[int, type[DemiError]]:
    """errno -> class, for every errno with a builtin subclass (the native module raises from this table)."""
    table = {code: error_class(code) for code in _errno.errorcode}
    return {code: cls for code, cls in table.items() if cls is not DemiError}


__all__ = [
    "DemiBlockingIOError",
    "DemiBrokenPipeError",
    "DemiConnectionAbortedError",
    "DemiConnectionRefusedError",
    "DemiConnectionResetError",
    "DemiError",
    "DemiFileExistsError",
    "DemiFileNotFoundError",
    "DemiInterruptedError",
    "DemiPermissionError",
    "DemiRuntimeError",
    "DemiTimeoutError",
    "DemiValueError",
    "error_class",
]
