"""Debian's chromium, driven by Playwright (never ``playwright install``: we use /usr/bin/chromium)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .harness import REPO

CHROMIUM = Path(os.environ.get("MODELRED_E2E_CHROMIUM", "/usr/bin/chromium"))


def ensure_chromium() -> Path:
    """Install chromium through the project's script when missing; fail clearly when that is impossible."""
    if not CHROMIUM.exists():
        result = subprocess.run(
            ["bash", str(REPO / "scripts" / "install-browser.sh")],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0 and CHROMIUM.exists(), (
            f"chromium is needed for the connection-form test and scripts/install-browser.sh could not "
            f"install it (exit {result.returncode}): {result.stderr[-2000:]}"
        )
    return CHROMIUM
