"""Share the task-context stand-in of ``tests/operators`` with the sensor tests."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "operators"))
