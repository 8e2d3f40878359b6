"""demikernel for asyncio: a demikernel-aware event loop and StreamReader/StreamWriter-style streams.

Port an asyncio program by changing its import::

    import demikernel.asyncio as asyncio      # instead of: import asyncio

``run``, ``open_connection`` and ``start_server`` here run on demikernel; every other name (``sleep``,
``gather``, ``IncompleteReadError``, ...) is the standard library's. Or adopt only the loop, the way uvloop
is adopted: ``asyncio.Runner(loop_factory=demikernel.asyncio.new_event_loop)``.
"""

from __future__ import annotations

import asyncio as _asyncio
import contextvars
import errno
import selectors
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from typing import Any, Literal, TypeVar

from ._demikernel import AF_INET, IPPROTO_TCP, SO_REUSEADDR, SOCK_STREAM, SOL_SOCKET, TCP_NODELAY, LibOS, QToken

__all__ = [
    "EventLoop",
    "Server",
    "StreamReader",
    "StreamWriter",
    "new_event_loop",
    "open_connection",
    "run",
    "start_server",
]

_T = TypeVar("_T")

#: Default buffer limit of a StreamReader (as asyncio's).
DEFAULT_LIMIT = 2**16

#: Most bytes a read that does not say how many takes in one pop.
_POP_MAX = 1 << 20

#: Pushes kept in flight by a writer before it reaps the finished ones.
_REAP_AFTER = 64

_WAKEUP = object()

#: While busy (nothing to wait for), the loop asks the OS selector once every this many rounds.
_SELECT_EVERY = 8


class _DemiSelector(selectors.BaseSelector):
    """The OS selector plus the LibOSes attached to the loop. Each ``select`` lets the LibOSes say how long
    the loop may sleep, sleeps in the OS selector (where each LibOS's event fd is registered), then completes
    every finished awaited token of each LibOS in one native call."""

    def __init__(self) -> None:
        self._inner = selectors.DefaultSelector()
        self._liboses: dict[LibOS, int | None] = {}
        #: The attached LibOSes, as a tuple (iterated every round).
        self._order: tuple[LibOS, ...] = ()
        self._busy_rounds = 0

    def attach(self, libos: LibOS) -> None:
        if libos in self._liboses:
            return
        fd = libos.event_fd()
        if fd is not None:
            self._inner.register(fd, selectors.EVENT_READ, _WAKEUP)
        self._liboses[libos] = fd
        self._order = tuple(self._liboses)

    def _detach(self, libos: LibOS) -> None:
        fd = self._liboses.pop(libos, None)
        self._order = tuple(self._liboses)
        if fd is not None:
            try:
                self._inner.unregister(fd)
            except (KeyError, ValueError, OSError):
                pass

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._inner.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.modify(fileobj, events, data)

    def get_key(self, fileobj: Any) -> selectors.SelectorKey:
        return self._inner.get_key(fileobj)

    def get_map(self) -> Any:
        return self._inner.get_map()

    def close(self) -> None:
        for libos in list(self._liboses):
            self._detach(libos)
        self._inner.close()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        liboses = self._order
        if not liboses:
            return self._inner.select(timeout)
        if timeout is None or timeout > 0:
            for libos in liboses:
                try:
                    idle = libos._idle_timeout()
                except OSError:  # shut down
                    self._detach(libos)
                    continue
                if idle is not None and (timeout is None or idle < timeout):
                    timeout = idle
        if timeout is not None and timeout <= 0 and self._busy_rounds < _SELECT_EVERY:
            # Busy: the libOSes poll their devices themselves in _dispatch; the OS selector (other fds, the
            # loop's self-pipe) is asked only every _SELECT_EVERY busy rounds, which saves a syscall a round.
            self._busy_rounds += 1
            ready = []
        else:
            self._busy_rounds = 0
            ready = self._inner.select(timeout)
        for libos in liboses:
            try:
                libos._dispatch()
            except OSError:
                self._detach(libos)
        if not ready:
            return ready
        return [(key, events) for key, events in ready if key.data is not _WAKEUP]


class EventLoop(_asyncio.SelectorEventLoop):
    """A selector event loop that also drives demikernel: it completes all finished qtokens in one native
    call per iteration, and otherwise sleeps in the OS selector until a device event, a loop timer or a
    libOS timer (poll-mode libOSes are polled without sleeping only while their tokens are awaited)."""

    def __init__(self) -> None:
        self._demi_selector = _DemiSelector()
        super().__init__(self._demi_selector)

    def _demi_attach(self, libos: LibOS) -> None:
        self._demi_selector.attach(libos)

    def call_soon(  # type: ignore[override]
        self, callback: Callable[..., object], *args: Any, context: contextvars.Context | None = None
    ) -> _asyncio.Handle:
        """As ``asyncio``'s, with fewer Python frames per call when debug is off (every completed await
        goes through here to wake its task)."""
        if self._debug or self._closed:  # type: ignore[attr-defined]
            return super().call_soon(callback, *args, context=context)
        handle = _Handle(callback, args, self, context)
        self._ready.append(handle)  # type: ignore[attr-defined]
        return handle


class _Handle(_asyncio.Handle):
    """``asyncio.Handle`` made without asking the loop for its debug flag (``call_soon`` asked already)."""

    __slots__ = ()

    def __init__(
        self,
        callback: Callable[..., object],
        args: tuple[Any, ...],
        loop: _asyncio.AbstractEventLoop,
        context: Any = None,
    ) -> None:
        self._context = contextvars.copy_context() if context is None else context
        self._loop = loop
        self._callback = callback
        self._args = args
        self._cancelled = False
        self._repr = None
        self._source_traceback = None


def new_event_loop() -> EventLoop:
    """A new demikernel-aware event loop (for ``asyncio.Runner(loop_factory=...)``)."""
    return EventLoop()


def run(main: Coroutine[Any, Any, _T], *, debug: bool | None = None) -> _T:
    """``asyncio.run`` on a demikernel-aware event loop."""
    with _asyncio.Runner(debug=debug, loop_factory=new_event_loop) as runner:
        return runner.run(main)


def _libos(libos: LibOS | None) -> LibOS:
    if libos is not None:
        return libos
    from . import default_libos

    return default_libos()


class StreamReader:
    """Reads a demikernel stream queue, with the semantics of ``asyncio.StreamReader``. A read that is
    cancelled loses no data: the pop in flight stays with the reader for the next read."""

    def __init__(self, libos: LibOS, qd: int, limit: int = DEFAULT_LIMIT) -> None:
        if limit <= 0:
            raise ValueError("limit cannot be <= 0")
        self._libos = libos
        self._qd = qd
        self._limit = limit
        self._buffer = bytearray()
        self._eof = False
        self._pop: QToken | None = None
        self._exception: BaseException | None = None
        #: The loop reads wait on (set at the first wait; False: not demikernel's, use ``await qt``).
        self._loop: _asyncio.AbstractEventLoop | Literal[False] | None = None

    def __repr__(self) -> str:
        return f"<demikernel StreamReader qd={self._qd} buffered={len(self._buffer)}{' eof' if self._eof else ''}>"

    def exception(self) -> BaseException | None:
        return self._exception

    def set_exception(self, exc: BaseException) -> None:
        self._exception = exc

    def feed_eof(self) -> None:
        self._eof = True

    def at_eof(self) -> bool:
        """True when the buffer is empty and the peer closed its end."""
        return self._eof and not self._buffer

    def _bind_loop(self) -> _asyncio.AbstractEventLoop | None:
        """The running loop, remembered (a stream belongs to one loop, as asyncio's), when it is
        demikernel's: then reads wait on a future of their own, with no ``await qt`` machinery per read."""
        loop = _asyncio.get_running_loop()
        attach = getattr(loop, "_demi_attach", None)
        if attach is None:
            self._loop = False
            return None
        attach(self._libos)
        self._loop = loop
        return loop

    async def _wait_pop(self, qt: QToken, fresh: bool) -> bytes:
        """The bytes of the pop in flight, ``qt`` (kept in ``_pop`` until then: a cancelled read loses no
        data); ``b""`` at the end of the stream (or when the queue was closed on our side)."""
        try:
            loop = self._loop
            if loop is None:
                loop = self._bind_loop()
            if loop and (fresh or not qt.done()):
                future = loop.create_future()
                qt._watch(future)
                result = await future
            else:
                result = await qt
        except OSError as e:
            self._pop = None
            return self._pop_failed(e)
        self._pop = None
        data: bytes = result.value
        if not data:
            self._eof = True
        return data

    def _pop_failed(self, e: OSError) -> bytes:
        self._eof = True
        if e.errno in (errno.ECANCELED, errno.EBADF):  # closed on our side
            return b""
        self._exception = e
        raise e

    def _start_pop(self, n: int) -> bytes | QToken:
        """Starts a pop of at most ``n`` bytes: its bytes when it finished at once, else its token."""
        try:
            data = self._libos._stream_pop(self._qd, n)
        except OSError as e:
            return self._pop_failed(e)
        if isinstance(data, bytes):
            if not data:
                self._eof = True
            return data
        self._pop = data
        return data

    async def _fill(self) -> None:
        """Waits for one more piece of data (or the end of the stream)."""
        if self._exception is not None:
            raise self._exception
        if self._eof:
            return
        qt = self._pop
        got = self._start_pop(_POP_MAX) if qt is None else qt
        data = got if isinstance(got, bytes) else await self._wait_pop(got, qt is None)
        if data:
            self._buffer += data

    async def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (``-1``: until EOF); ``b""`` at EOF."""
        if n == 0:
            return b""
        if n < 0:
            while not self._eof:
                await self._fill()
            data = bytes(self._buffer)
            self._buffer.clear()
            return data
        if not self._buffer:
            if self._eof:
                return b""
            if self._pop is None and self._exception is None:
                # The common case: nothing buffered, so a pop of at most n bytes is the answer itself.
                # (_start_pop and _wait_pop, inlined: this runs once per message.)
                try:
                    got = self._libos._stream_pop(self._qd, n)
                except OSError as e:
                    return self._pop_failed(e)
                if isinstance(got, bytes):
                    if not got:
                        self._eof = True
                    return got
                self._pop = got
                loop = self._loop
                if loop is None:
                    loop = self._bind_loop()
                if not loop:
                    return await self._wait_pop(got, True)
                future = loop.create_future()
                got._watch(future)
                try:
                    result = await future
                except OSError as e:
                    self._pop = None
                    return self._pop_failed(e)
                self._pop = None
                popped: bytes = result.value
                if not popped:
                    self._eof = True
                return popped
            await self._fill()
        if len(self._buffer) <= n:
            data = bytes(self._buffer)
            self._buffer.clear()
        else:
            data = bytes(self._buffer[:n])
            del self._buffer[:n]
        return data

    async def readexactly(self, n: int) -> bytes:
        """Exactly ``n`` bytes; ``IncompleteReadError`` (with the partial bytes) if the stream ends first."""
        if n < 0:
            raise ValueError("readexactly size can not be less than zero")
        while len(self._buffer) < n:
            if self._eof:
                partial = bytes(self._buffer)
                self._buffer.clear()
                raise _asyncio.IncompleteReadError(partial, n)
            await self._fill()
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    async def readuntil(self, separator: bytes = b"\n") -> bytes:
        """Data up to and including ``separator``. ``IncompleteReadError`` at EOF without it;
        ``LimitOverrunError`` past the limit (the data stays buffered)."""
        seplen = len(separator)
        if seplen == 0:
            raise ValueError("Separator should be at least one-byte string")
        offset = 0
        while True:
            if len(self._buffer) - offset >= seplen:
                at = self._buffer.find(separator, offset)
                if at != -1:
                    break
                offset = len(self._buffer) + 1 - seplen
                if offset > self._limit:
                    raise _asyncio.LimitOverrunError("Separator is not found, and chunk exceed the limit", offset)
            if self._eof:
                chunk = bytes(self._buffer)
                self._buffer.clear()
                raise _asyncio.IncompleteReadError(chunk, None)
            await self._fill()
        if at > self._limit:
            raise _asyncio.LimitOverrunError("Separator is found, but chunk is longer than limit", at)
        data = bytes(self._buffer[: at + seplen])
        del self._buffer[: at + seplen]
        return data

    async def readline(self) -> bytes:
        """A line ending in ``b"\\n"``, or the rest of the stream at EOF (as asyncio's)."""
        try:
            return await self.readuntil(b"\n")
        except _asyncio.IncompleteReadError as e:
            return e.partial
        except _asyncio.LimitOverrunError as e:
            if self._buffer.startswith(b"\n", e.consumed):
                del self._buffer[: e.consumed + 1]
            else:
                self._buffer.clear()
            raise ValueError(e.args[0]) from None

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        line = await self.readline()
        if line == b"":
            raise StopAsyncIteration
        return line


class StreamWriter:
    """Writes a demikernel stream queue, with the semantics of ``asyncio.StreamWriter``: ``write`` starts a
    push at once (copying the data), ``drain`` waits for the pushes in flight, ``close`` lets them finish
    and then closes the queue."""

    def __init__(self, libos: LibOS, qd: int, reader: StreamReader | None = None) -> None:
        self._libos = libos
        self._qd = qd
        self._reader = reader
        self._pending: list[QToken] = []
        self._closing = False
        self._closed: _asyncio.Task[None] | None = None
        self._error: OSError | None = None

    def __repr__(self) -> str:
        return f"<demikernel StreamWriter qd={self._qd}{' closing' if self._closing else ''}>"

    @property
    def libos(self) -> LibOS:
        """The LibOS the stream runs on."""
        return self._libos

    @property
    def qd(self) -> int:
        """The queue descriptor of the connection."""
        return self._qd

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Starts sending ``data`` (copied). Errors surface in ``drain``."""
        if self._closing or not data:
            return
        pushed = self._libos._stream_push(self._qd, data)
        if pushed is None:  # sent at once (the usual case): nothing to track
            return
        if isinstance(pushed, OSError):
            self._error = self._error or pushed
            return
        self._pending.append(pushed)
        if len(self._pending) >= _REAP_AFTER:
            self._reap()

    def writelines(self, data: Iterable[bytes | bytearray | memoryview]) -> None:
        self.write(b"".join(data))

    def _reap(self) -> None:
        still = []
        for qt in self._pending:
            if qt.done():
                try:
                    self._libos.wait(qt, 0)
                except OSError as e:
                    self._error = self._error or e
            else:
                still.append(qt)
        self._pending = still

    async def drain(self) -> None:
        """Waits until the data written so far is handed to the libOS; raises its errors
        (``ConnectionResetError``, ``BrokenPipeError``, ...)."""
        if not self._pending and self._error is None:
            return
        while self._pending:
            qt = self._pending[0]
            await qt
            self._pending.pop(0)
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def can_write_eof(self) -> bool:
        return False

    def write_eof(self) -> None:
        raise NotImplementedError("PDPIX has no half-close: use close()")

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        """Closes the stream once the pushes in flight have finished (``wait_closed`` waits for that)."""
        if self._closing:
            return
        self._closing = True
        try:
            loop = _asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None or not self._pending:
            self._close_now()
        else:
            self._closed = loop.create_task(self._close_after_pushes())

    async def _close_after_pushes(self) -> None:
        try:
            for qt in self._pending:
                try:
                    await qt
                except OSError:
                    pass
        finally:
            self._pending.clear()
            self._close_now()

    def _close_now(self) -> None:
        self._pending.clear()
        if self._reader is not None:
            self._reader.feed_eof()
        try:
            self._libos.close(self._qd)
        except OSError:
            pass

    async def wait_closed(self) -> None:
        if self._closed is not None:
            await _asyncio.shield(self._closed)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """``"peername"``, ``"sockname"`` as ``(host, port)``; ``"libos"``, ``"qd"``; else ``default``."""
        try:
            if name == "peername":
                return self._libos.getpeername(self._qd)
            if name == "sockname":
                return self._libos.getsockname(self._qd)
        except OSError:
            return default
        if name == "libos":
            return self._libos
        if name == "qd":
            return self._qd
        return default

    async def start_tls(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("TLS is not supported on demikernel streams")

    def __del__(self) -> None:
        if not self._closing:
            self._closing = True
            try:
                self._libos.close(self._qd)
            except Exception:
                pass


async def open_connection(
    host: str | None = None,
    port: int | None = None,
    *,
    libos: LibOS | None = None,
    limit: int = DEFAULT_LIMIT,
    **kwds: Any,
) -> tuple[StreamReader, StreamWriter]:
    """Connects to ``(host, port)`` over ``libos`` (default: ``demikernel.default_libos()``) and returns a
    ``(StreamReader, StreamWriter)`` pair, as ``asyncio.open_connection``. TCP_NODELAY is set, as asyncio
    does."""
    _no_extras(kwds)
    lib = _libos(libos)
    qd = lib.socket(AF_INET, SOCK_STREAM, 0)
    try:
        await lib.connect(qd, (host or "127.0.0.1", port or 0))
        lib.setsockopt(qd, IPPROTO_TCP, TCP_NODELAY, 1)
    except BaseException:
        lib.close(qd)
        raise
    reader = StreamReader(lib, qd, limit)
    return reader, StreamWriter(lib, qd, reader)


def _no_extras(kwds: dict[str, Any]) -> None:
    for key, value in kwds.items():
        if key in ("ssl", "ssl_handshake_timeout", "ssl_shutdown_timeout", "sock") and value is None:
            continue
        if key in ("family", "flags", "proto", "local_addr", "server_hostname", "happy_eyeballs_delay"):
            continue
        raise TypeError(f"demikernel streams do not support {key}={value!r}")


class _QueueName:
    """What ``Server.sockets`` lists: enough of a socket to ask its address."""

    def __init__(self, libos: LibOS, qd: int) -> None:
        self._libos = libos
        self._qd = qd
        self.family = socket.AF_INET
        self.type = socket.SOCK_STREAM

    def getsockname(self) -> tuple[str, int]:
        host, port = self._libos.getsockname(self._qd)
        return (host, port)

    def fileno(self) -> int:
        return -1

    def __repr__(self) -> str:
        return f"<demikernel queue {self._qd} {self.getsockname()}>"


ClientConnected = Callable[[StreamReader, StreamWriter], Awaitable[None] | None]


class Server:
    """A listening queue that runs ``client_connected_cb(reader, writer)`` for each connection, with the
    interface of ``asyncio.Server`` (``async with``, ``serve_forever``, ``close``, ``wait_closed``,
    ``sockets``)."""

    def __init__(self, libos: LibOS, qd: int, callback: ClientConnected, limit: int) -> None:
        self._libos = libos
        self._qd = qd
        self._callback = callback
        self._limit = limit
        self._loop = _asyncio.get_running_loop()
        self._accepting: _asyncio.Task[None] | None = None
        self._forever: _asyncio.Future[None] | None = None
        self._handlers: set[_asyncio.Task[Any]] = set()
        self._closed = False

    def get_loop(self) -> _asyncio.AbstractEventLoop:
        return self._loop

    @property
    def sockets(self) -> tuple[_QueueName, ...]:
        return () if self._closed else (_QueueName(self._libos, self._qd),)

    def is_serving(self) -> bool:
        return self._accepting is not None and not self._closed

    async def start_serving(self) -> None:
        if self._closed:
            raise RuntimeError("the server is closed")
        if self._accepting is None:
            self._accepting = self._loop.create_task(self._accept_loop())
        await _asyncio.sleep(0)

    async def serve_forever(self) -> None:
        if self._forever is not None:
            raise RuntimeError("serve_forever is already running")
        await self.start_serving()
        self._forever = self._loop.create_future()
        try:
            await self._forever
        except _asyncio.CancelledError:
            try:
                self.close()
                await self.wait_closed()
            finally:
                raise
        finally:
            self._forever = None

    def close(self) -> None:
        """Stops accepting (connections already accepted go on)."""
        if self._closed:
            return
        self._closed = True
        if self._accepting is not None:
            self._accepting.cancel()
        try:
            self._libos.close(self._qd)
        except OSError:
            pass
        if self._forever is not None and not self._forever.done():
            self._forever.cancel()

    def close_clients(self) -> None:
        for task in list(self._handlers):
            task.cancel()

    async def wait_closed(self) -> None:
        if self._accepting is not None:
            try:
                await _asyncio.shield(self._accepting)
            except _asyncio.CancelledError:
                if not self._accepting.done():
                    raise

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
        await self.wait_closed()

    async def _accept_loop(self) -> None:
        libos = self._libos
        while not self._closed:
            try:
                result = await libos.accept(self._qd)
            except OSError as e:
                if self._closed or e.errno in (errno.ECANCELED, errno.EBADF):
                    return
                self._loop.call_exception_handler({"message": "demikernel accept failed", "exception": e})
                await _asyncio.sleep(0.1)
                continue
            qd = result.value
            try:
                libos.setsockopt(qd, IPPROTO_TCP, TCP_NODELAY, 1)
            except OSError:
                pass
            reader = StreamReader(libos, qd, self._limit)
            writer = StreamWriter(libos, qd, reader)
            try:
                started = self._callback(reader, writer)
            except Exception as e:
                writer.close()
                self._loop.call_exception_handler({"message": "client_connected_cb failed", "exception": e})
                continue
            if _asyncio.iscoroutine(started):
                task = self._loop.create_task(started)
                self._handlers.add(task)
                task.add_done_callback(self._handler_done(writer))

    def _handler_done(self, writer: StreamWriter) -> Callable[[_asyncio.Task[Any]], None]:
        def done(task: _asyncio.Task[Any]) -> None:
            self._handlers.discard(task)
            if task.cancelled():
                writer.close()
                return
            error = task.exception()
            if error is not None:
                writer.close()
                self._loop.call_exception_handler(
                    {"message": "Unhandled exception in client_connected_cb", "exception": error}
                )

        return done


async def start_server(
    client_connected_cb: ClientConnected,
    host: str | None = None,
    port: int | None = None,
    *,
    libos: LibOS | None = None,
    limit: int = DEFAULT_LIMIT,
    backlog: int = 100,
    reuse_address: bool = True,
    start_serving: bool = True,
    **kwds: Any,
) -> Server:
    """Listens on ``(host, port)`` over ``libos`` and calls ``client_connected_cb(reader, writer)`` for each
    connection, as ``asyncio.start_server``. Port 0 picks a free port (see ``server.sockets``)."""
    _no_extras({k: v for k, v in kwds.items() if k not in ("reuse_port", "keep_alive")})
    lib = _libos(libos)
    qd = lib.socket(AF_INET, SOCK_STREAM, 0)
    try:
        if reuse_address:
            lib.setsockopt(qd, SOL_SOCKET, SO_REUSEADDR, 1)
        lib.bind(qd, (host or "", port or 0))
        lib.listen(qd, backlog)
    except BaseException:
        lib.close(qd)
        raise
    server = Server(lib, qd, client_connected_cb, limit)
    if start_serving:
        await server.start_serving()
    return server


def __getattr__(name: str) -> Any:
    """Everything else is the standard library's asyncio (``sleep``, ``gather``, ``IncompleteReadError``...)."""
    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(_asyncio, name)
