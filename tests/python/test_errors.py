"""Every error path is a clean Python exception: OSError subclasses by errno, TypeError/ValueError for bad
arguments, and no call sequence (closed LibOS, used-up qtoken, freed Sga, other threads) crashes."""

from __future__ import annotations

import errno
import gc
import socket
import subprocess
import sys
import threading

import demikernel as demi
import pytest
from conftest import connected_pair


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_connection_refused(libos: demi.LibOS) -> None:
    qd = libos.socket()
    with pytest.raises(ConnectionRefusedError) as info:
        libos.wait(libos.connect(qd, ("127.0.0.1", free_port())), timeout=5)
    assert info.value.errno == errno.ECONNREFUSED


def test_timeout_keeps_the_token(libos: demi.LibOS) -> None:
    qd = libos.queue()
    pop = libos.pop(qd)
    with pytest.raises(TimeoutError):
        libos.wait(pop, timeout=0.02)
    with pytest.raises(TimeoutError):
        libos.wait(pop, timeout=0)
    libos.wait(libos.push(qd, b"late"), timeout=1)
    assert bytes(libos.wait(pop, timeout=1).value) == b"late"


def test_used_up_qtoken(libos: demi.LibOS) -> None:
    qd = libos.queue()
    push = libos.push(qd, b"x")
    libos.wait(push)
    with pytest.raises(OSError) as info:
        libos.wait(push)
    assert info.value.errno == errno.EINVAL
    with pytest.raises(OSError):
        push.done()


def test_bad_descriptors_and_states(libos: demi.LibOS) -> None:
    for call in (lambda: libos.close(999), lambda: libos.pop(-1), lambda: libos.getsockname(2**40)):
        with pytest.raises(OSError) as info:
            call()
        assert info.value.errno == errno.EBADF
    qd = libos.socket()
    with pytest.raises(OSError) as info:
        libos.pop(qd)
    assert info.value.errno == errno.ENOTCONN
    with pytest.raises(OSError) as info:
        libos.push(qd, b"x")
    assert info.value.errno == errno.ENOTCONN
    with pytest.raises(OSError) as info:
        libos.socket(socket.AF_INET6, demi.SOCK_STREAM)
    assert info.value.errno == errno.EAFNOSUPPORT
    with pytest.raises(OSError) as info:
        libos.getsockopt(qd, demi.SOL_SOCKET, socket.SO_RCVBUF)
    assert info.value.errno == errno.ENOPROTOOPT


def test_address_in_use(libos: demi.LibOS) -> None:
    a, b = libos.socket(), libos.socket()
    libos.bind(a, ("127.0.0.1", 0))
    libos.listen(a)
    with pytest.raises(OSError) as info:
        libos.bind(b, libos.getsockname(a))
    assert info.value.errno == errno.EADDRINUSE


def test_wrong_argument_types_and_values(libos: demi.LibOS) -> None:
    qd = libos.queue()
    with pytest.raises(TypeError):
        libos.push(qd, "text is not bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        libos.push("0", b"x")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        libos.bind(libos.socket(), "127.0.0.1:80")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        libos.bind(libos.socket(), ("127.0.0.1",))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        libos.bind(libos.socket(), ("127.0.0.1", 70000))
    with pytest.raises(ValueError):
        libos.bind(libos.socket(), ("::1", 80))
    with pytest.raises(ValueError):
        libos.pop(qd, max_len=0)
    with pytest.raises(ValueError):
        libos.wait(libos.pop(qd), timeout=-1)
    with pytest.raises(ValueError):
        libos.sgaalloc(0)
    with pytest.raises(ValueError):
        libos.wait_any([])
    with pytest.raises(TypeError):
        libos.wait(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        demi.LibOS("catnop")
    with pytest.raises(OSError) as info:
        demi.LibOS("catmint")  # a libOS of the project that no build has yet
    assert info.value.errno == errno.ENOTSUP


def test_ints_past_any_c_type_are_demi_errors_not_overflow_errors(libos: demi.LibOS) -> None:
    # Each meets the checks of its type's largest (or smallest) value; PyO3's conversion alone raised
    # OverflowError, which `except demikernel.DemiError` missed.
    huge = 2**70
    with pytest.raises(demi.DemiError) as info:
        libos.close(huge)
    assert info.value.errno == errno.EBADF
    with pytest.raises(demi.DemiError) as info:
        libos.sgaalloc(huge)
    assert info.value.errno == errno.ENOMEM
    with pytest.raises(demi.DemiValueError):
        libos.sgaalloc(-huge)
    with pytest.raises(demi.DemiValueError):
        libos.bind(libos.socket(), ("127.0.0.1", huge))
    with pytest.raises(demi.DemiValueError):
        libos.listen(libos.socket(), -huge)
    with pytest.raises(demi.DemiError) as largest:
        libos.socket(demi.AF_INET, 2**31 - 1)
    with pytest.raises(demi.DemiError) as info:
        libos.socket(demi.AF_INET, huge)
    assert info.value.errno == largest.value.errno
    with pytest.raises(demi.DemiError):
        libos.setsockopt(libos.socket(), huge, huge, 1)
    qd = libos.queue()
    pop = libos.pop(qd, max_len=huge)
    with pytest.raises(TimeoutError):
        libos.wait(pop, timeout=0)
    libos.setsockopt(libos.socket(), demi.IPPROTO_TCP, demi.TCP_NODELAY, huge)  # an int: true
    libos.wait(libos.push(qd, b"x"), timeout=10**400)  # forever, and it is done at once
    assert bytes(libos.wait(pop, timeout=10**400).value) == b"x"


def test_bad_config_file_names_the_key(tmp_path: object) -> None:
    import pathlib

    path = pathlib.Path(str(tmp_path)) / "demi.toml"
    path.write_text('libos = "catnap"\n[catnap]\nspin_us = "fast"\n')
    with pytest.raises(ValueError, match="invalid type"):
        demi.LibOS(config=path)
    path.write_text('libos = "catnap"\n[catnap]\nspin_us = 0\n')
    with demi.LibOS(config=str(path)) as libos:
        assert libos.name == "catnap"
    with pytest.raises(FileNotFoundError):
        demi.LibOS(config=path.parent / "missing.toml")


def test_close_cancels_pending_operations(libos: demi.LibOS) -> None:
    qd = libos.queue()
    pop = libos.pop(qd)
    libos.close(qd)
    with pytest.raises(OSError) as info:
        libos.wait(pop, timeout=1)
    assert info.value.errno == errno.ECANCELED


def test_sga_after_sgafree(libos: demi.LibOS) -> None:
    sga = libos.sgaalloc(16)
    view = memoryview(sga)
    with pytest.raises(BufferError):
        libos.sgafree(sga)  # a view is alive
    with pytest.raises(BufferError):
        libos.push(libos.queue(), sga)  # pushing with a live view is refused
    view.release()
    libos.sgafree(sga)
    assert sga.freed and "freed" in repr(sga)
    for call in (lambda: bytes(sga), lambda: memoryview(sga), lambda: len(sga), lambda: libos.sgafree(sga)):
        with pytest.raises(ValueError):
            call()
    with pytest.raises(ValueError):
        libos.push(libos.queue(), sga)


def test_shared_sga_is_read_only_while_in_flight(libos: demi.LibOS) -> None:
    qd = libos.queue()
    sga = demi.Sga(b"payload")
    libos.push(qd, sga)  # the queue keeps a reference until popped
    with pytest.raises(TypeError):  # memoryview: "cannot modify read-only memory"
        memoryview(sga)[0:1] = b"x"
    assert memoryview(sga).readonly
    libos.wait(libos.pop(qd), timeout=1)
    assert not memoryview(sga).readonly


def test_closed_libos(libos: demi.LibOS) -> None:
    qd = libos.queue()
    pop = libos.pop(qd)
    sga = libos.sgaalloc(8)
    libos.shutdown()
    assert libos.closed
    libos.shutdown()  # idempotent
    for call in (libos.queue, lambda: libos.wait(pop), lambda: libos.push(qd, b"x"), libos.poll, pop.done):
        with pytest.raises(OSError) as info:
            call()
        assert info.value.errno == errno.EBADF
    assert bytes(sga) == bytes(8)  # buffers outlive their libOS


def test_objects_outlive_a_dropped_libos() -> None:
    libos = demi.LibOS("catnap")
    qd = libos.queue()
    push = libos.push(qd, b"x")
    pop = libos.pop(qd)
    result = libos.wait(pop)
    del libos
    gc.collect()
    # The token keeps its LibOS object alive; results and buffers stay usable.
    assert push.libos.name == "catnap"
    assert bytes(result.value) == b"x"
    push.libos.shutdown()
    with pytest.raises(OSError):
        push.libos.wait(push)


def test_calls_from_another_thread_raise_cleanly(libos: demi.LibOS, pair: tuple[int, int, int]) -> None:
    _, client, _ = pair
    qd = libos.queue()
    pop = libos.pop(qd)
    sga = libos.sgaalloc(4)
    errors: list[BaseException] = []

    def other_thread() -> None:
        for call in (
            libos.queue,
            lambda: libos.push(client, b"x"),
            lambda: libos.wait(pop, timeout=0),
            pop.done,
            lambda: bytes(sga),
            lambda: memoryview(sga),
            lambda: libos.shutdown(),
        ):
            try:
                call()
            except BaseException as e:
                errors.append(e)
        # A LibOS of its own works on this thread.
        with demi.LibOS("catnap") as mine:
            q = mine.queue()
            mine.wait(mine.push(q, b"ok"))

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert len(errors) == 7
    assert all(isinstance(e, RuntimeError) and "another thread" in str(e) for e in errors), errors
    assert all(isinstance(e, demi.DemiRuntimeError) and e.errno == errno.EPERM for e in errors), errors
    assert not libos.closed  # nothing happened to it
    libos.wait(libos.push(qd, b"still fine"), timeout=1)
    assert bytes(libos.wait(pop, timeout=1).value) == b"still fine"


def test_objects_dropped_on_another_thread() -> None:
    code = """
import threading, gc, demikernel as demi
libos = demi.LibOS("catnap")
qd = libos.queue()
objs = [libos, libos.pop(qd), libos.sgaalloc(8)]
del libos
t = threading.Thread(target=lambda: (objs.clear(), gc.collect()))
t.start(); t.join()
print("survived")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "survived" in out.stdout


def test_sga_views_survive_their_thread() -> None:
    views: list[memoryview] = []

    def make() -> None:
        with demi.LibOS("catnap") as libos:
            sga = libos.sgaalloc(32)
            view = memoryview(sga)
            view[:4] = b"keep"
            views.append(view)

    thread = threading.Thread(target=make)
    thread.start()
    thread.join()
    assert views[0][:4].tobytes() == b"keep"
    views[0].release()


def test_second_pair_on_one_libos_errors_are_independent(libos: demi.LibOS) -> None:
    _, client, server = connected_pair(libos)
    libos.close(server)
    libos.wait(libos.push(client, b"x" * 10), timeout=5)
    # The peer is gone: eventually a push fails with a connection error, never a crash.
    with pytest.raises((ConnectionResetError, BrokenPipeError)):
        for _ in range(100):
            libos.wait(libos.push(client, b"x" * 65536), timeout=5)


def test_every_failure_is_a_demi_error_with_an_errno(libos: demi.LibOS) -> None:
    """OSErrors are DemiErrors of the builtin subclass for the errno; bad values DemiValueError (EINVAL)."""
    from demikernel.errors import DemiConnectionRefusedError, error_class

    qd = libos.socket(demi.AF_INET, demi.SOCK_STREAM)
    with pytest.raises(ConnectionRefusedError) as refused:
        libos.wait(libos.connect(qd, ("127.0.0.1", 1)), timeout=5)
    assert isinstance(refused.value, DemiConnectionRefusedError)
    assert isinstance(refused.value, demi.DemiError)
    assert refused.value.errno == errno.ECONNREFUSED
    with pytest.raises(demi.DemiError) as bad_fd:
        libos.close(123456)
    assert bad_fd.value.errno == errno.EBADF
    assert type(bad_fd.value) is demi.DemiError  # EBADF has no builtin subclass
    with pytest.raises(ValueError) as bad_value:
        libos.sgaalloc(0)
    assert isinstance(bad_value.value, demi.DemiValueError)
    assert bad_value.value.errno == errno.EINVAL
    assert issubclass(error_class(errno.ETIMEDOUT), TimeoutError)
    assert error_class(errno.ECANCELED) is demi.DemiError


def test_a_rust_panic_is_a_demi_error_and_retires_the_libos(libos: demi.LibOS) -> None:
    """A panic inside the libOS (a bug; no input causes one) is a DemiError with EIO, not PyO3's
    PanicException (which `except Exception` does not catch); the libOS is then out of service (EBADF)."""
    qd = libos.socket(demi.AF_INET, demi.SOCK_STREAM)
    with pytest.raises(demi.DemiError) as info:
        libos._panic_for_tests()
    assert info.value.errno == errno.EIO
    assert "internal error" in str(info.value)
    with pytest.raises(demi.DemiError) as after:
        libos.close(qd)
    assert after.value.errno == errno.EBADF
    libos.shutdown()  # still a clean no-op
