"""docs/emulator.md's pytest example runs as written: its three files are copied out of the page into a
fresh project and run with pytest in a subprocess, with none of this suite's Airflow settings."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "emulator.md"


def _files(markdown: str) -> dict[str, str]:
    """Each ```python block whose first line is ``# <relative path>.py``, by path."""
    files = {}
    for block in re.findall(r"```python\n(.*?)```", markdown, flags=re.S):
        first = block.partition("\n")[0]
        match = re.fullmatch(r"# ([\w/]+\.py)", first.strip())
        if match:
            files[match.group(1)] = block
    return files


def test_the_documented_project_runs_as_written(tmp_path: Path) -> None:
    files = _files(DOC.read_text())
    assert set(files) == {"dags/my_release_gate.py", "tests/conftest.py", "tests/test_release_gate.py"}
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTEST"))}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "2 passed" in done.stdout
