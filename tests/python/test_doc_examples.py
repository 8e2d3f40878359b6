"""The quick starts of the README and docs/python.md, run as written: each on a free port instead of the one it
names (which may be taken), and those that connect to a server against a plain echo server."""

from __future__ import annotations

import contextlib
import pathlib
import re
import socket
import subprocess
import sys
import threading

import pytest

ROOT = pathlib.Path(__file__).parents[2]


def python_blocks(document: str, section: str) -> list[str]:
    """The Python code blocks of `section` (a "## " heading) of `document`."""
    text = (ROOT / document).read_text().split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def echo_server() -> tuple[int, threading.Thread]:
    """A thread that accepts one connection on a free port and echoes it until the peer closes or resets it (an
    example may exit without reading its last echo); returns the port and the thread."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with listener, listener.accept()[0] as connection, contextlib.suppress(ConnectionResetError):
            while data := connection.recv(65536):
                connection.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    port: int = listener.getsockname()[1]
    return port, thread


def run(code: str, tmp_path: pathlib.Path) -> str:
    script = tmp_path / "example.py"
    script.write_text(code)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_readme_quick_start(tmp_path: pathlib.Path) -> None:
    [code] = python_blocks("README.md", "Quick start (Python)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert "9000" in code
    assert run(code.replace("9000", str(port)), tmp_path) == "b'hello'\n"


@pytest.mark.parametrize(("section", "output"), [("Quick start (synchronous)", "b'hello'\n"), ("asyncio", "b'ping'\n")])
def test_the_python_guide_quick_starts(tmp_path: pathlib.Path, section: str, output: str) -> None:
    code = python_blocks("docs/python.md", section)[0]
    assert "8080" in code
    port, server = echo_server()
    assert run(code.replace("8080", str(port)), tmp_path) == output
    server.join(timeout=10)
    assert not server.is_alive(), "the example left its connection open"
