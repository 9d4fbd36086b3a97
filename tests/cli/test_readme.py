"""The README tells the truth: its API example runs, and its quick-start block is what CI runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_the_api_example_runs_on_the_embedded_defaults(tmp_path: Path) -> None:
    example = next(block for block in python_blocks(README.read_text()) if "HotStore.open" in block)
    script = tmp_path / "example.py"
    script.write_text(example)
    env = {"PATH": "", "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "level 1 → 2" in result.stdout
    assert "(1, 42, 160)" in result.stdout  # 150 from add_xp, 10 from the turn
    assert "LevelUp(" in result.stdout  # the turn's outcome


def test_the_quick_start_block_has_the_install_and_test_commands_ci_runs() -> None:
    text = README.read_text()
    block = text.split("<!-- quickstart:begin -->")[1].split("<!-- quickstart:end -->")[0]
    lines = [line for line in block.splitlines() if line and not line.startswith("```")]
    assert lines == [
        'python3 -m venv .venv && .venv/bin/pip install -e ".[dev]" && .venv/bin/hotstore demo',
        ".venv/bin/pytest",
    ]
