"""Plain constants the operator and sensor need to be *defined*: what their signatures and parse-time
checks name. No dataclasses and no Airflow here: the DAG processor imports this for every DAG file.

``modelred_provider.api.models`` re-exports the API's vocabulary from here (one source of truth).
"""

from __future__ import annotations

from enum import Enum


class ApiGeneration(str, Enum):
    """The two public generations of the ModelRed API (see the contract, sections 1 and 2)."""

    RESOURCES = "resources"  # /api/models, /api/assessments (testTypes = probe keys), /api/probes
    V2 = "v2"  # /api/models, /api/v2/assessments (probePackIds), /api/v2/probes


PRIORITIES = ("low", "normal", "high", "critical")
SEVERITIES = ("critical", "high", "medium", "low")
# Lowest risk first: an index comparison tells whether a risk level is at most another.
RISK_LEVELS = ("low", "medium", "high", "critical")

#: Transient polling failures tolerated in a row (the operator's, sensor's and trigger's default).
DEFAULT_RETRY_BUDGET = 8

#: The longest single pause of a wait, a server's ``Retry-After`` included (seconds); the connection
#: extra ``poll_max_wait`` lowers it. A 429 asking for a day must not park a trigger for a day.
DEFAULT_POLL_MAX_WAIT = 900.0
