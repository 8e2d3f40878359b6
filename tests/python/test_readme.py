"""The README's Python quick start, run as written (on a free port instead of 9000, which may be taken)."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

from test_streams import free_port

README = pathlib.Path(__file__).parents[2] / "README.md"


def quick_start() -> str:
    """The Python code block of the README's "Quick start (Python)" section."""
    section = README.read_text().split("## Quick start (Python)", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert len(blocks) == 1, f"one Python block expected in the quick start, found {len(blocks)}"
    return blocks[0]


def test_the_python_quick_start_runs_as_written(tmp_path: pathlib.Path) -> None:
    code = quick_start()
    assert "9000" in code
    script = tmp_path / "quick_start.py"
    script.write_text(code.replace("9000", str(free_port())))
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "b'hello'\n", run.stdout + run.stderr
