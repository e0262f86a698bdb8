"""The words of the ModelRed API: generations, priorities, severities, risk levels and their spelling.

No dataclasses and no Airflow: the operator and sensor name these in their signatures, so the DAG processor
imports this module for every DAG file.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

__all__ = ["PRIORITIES", "RISK_LEVELS", "SEVERITIES", "ApiGeneration", "normalize_level"]


class ApiGeneration(str, Enum):
    """The two public generations of the ModelRed API (docs/modelred-api.md, sections 1 and 2)."""

    RESOURCES = "resources"  # /api/models, /api/assessments (testTypes = probe keys), /api/probes
    V2 = "v2"  # /api/models, /api/v2/assessments (probePackIds), /api/v2/probes


PRIORITIES = ("low", "normal", "high", "critical")
SEVERITIES = ("critical", "high", "medium", "low")
# Lowest risk first: an index comparison tells whether a risk level is at most another.
RISK_LEVELS = ("low", "medium", "high", "critical")


def normalize_level(value: Any) -> str | None:
    """Return the one spelling of a severity or a risk level (``"Critical "`` -> ``"critical"``).

    Used by the parameter checks, the report parser, the gate and the summary: case and surrounding or
    repeated whitespace do not count. ``None`` when there is no text (missing, empty, not a string).

    The result is not checked against the known levels: callers compare it with ``SEVERITIES`` or
    ``RISK_LEVELS`` and treat anything else as unknown (which a gate never lets pass).
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = " ".join(str(value).split()).lower()
    return text or None
