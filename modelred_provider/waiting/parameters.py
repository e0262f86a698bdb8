"""The parameters of a wait: defaults for how long and how much it tolerates, and checks of DAG input.

The checks are of what a DAG author gives (seconds, the retry budget). The operator, sensor, trigger
and hook name these in their signatures, so this imports only the standard library: the DAG processor
loads it for every DAG file.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any, overload

__all__ = [
    "DEFAULT_ASSESSMENT_TIMEOUT",
    "DEFAULT_POLL_MAX_WAIT",
    "DEFAULT_RETRY_BUDGET",
    "check_positive",
    "check_retry_budget",
    "is_finite_number",
]

#: Transient polling failures tolerated in a row (the operator's, sensor's and trigger's default).
DEFAULT_RETRY_BUDGET = 8

#: The longest single pause of a wait, a server's ``Retry-After`` included (seconds); the connection
#: extra ``poll_max_wait`` lowers it. A 429 asking for a day must not park a trigger for a day.
DEFAULT_POLL_MAX_WAIT = 900.0

#: The default ``timeout`` of the operator and the sensor: 6 hours. A stuck assessment must not hold the
#: gate (or a worker or triggerer slot) forever, and a red-team run is long: ModelRed's own SDK waits
#: 60 minutes by default, and running the whole probe catalogue one probe after another takes about
#: half an hour by the catalogue's ``estimated_time`` figures (1,785 s for the 34 probes the emulator
#: serves); a queue behind "Maximum concurrent assessments reached" or a low priority adds to it. Six
#: hours is several times the longest of these and still ends a stuck assessment the same working day.
DEFAULT_ASSESSMENT_TIMEOUT = 6 * 60 * 60.0


def is_finite_number(value: Any) -> bool:
    """Tell a real, finite number: not a bool, not NaN, not infinite, not an int past float's range."""
    try:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    except OverflowError:  # math.isfinite(10**400)
        return False


@overload
def check_positive(value: Any, param: str) -> float: ...
@overload
def check_positive(value: Any, param: str, *, allow_none: bool) -> float | None: ...
def check_positive(value: Any, param: str, *, allow_none: bool = False) -> float | None:
    """Seconds as a positive, finite number (a ``timedelta`` is accepted).

    ``True`` is not a number here, and NaN or infinity are refused: NaN compares false with everything,
    so a NaN poll interval never sleeps and a NaN deadline never passes.
    """
    if value is None and allow_none:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if not is_finite_number(seconds) or seconds <= 0:
        raise ValueError(f"{param}={value!r} must be a positive, finite number of seconds.")
    return float(seconds)


def check_retry_budget(value: Any) -> int:
    """Transient polling failures tolerated in a row: a whole number >= 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"retry_budget={value!r} must be a whole number >= 0.")
    return value
