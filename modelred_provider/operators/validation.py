"""Checks of the operator's and sensor's parameters, at DAG parse and again when the task runs.

Static values are checked at parse, rendered templates at run. Pure and small: no dataclasses, no
Airflow, nothing but constants.

Each check raises ``ValueError`` naming the parameter, the bad value and what to give instead.
"""

from __future__ import annotations

import ast
import json
import math
from typing import TYPE_CHECKING, Any

from modelred_provider.api.vocabulary import RISK_LEVELS, SEVERITIES, ApiGeneration, normalize_level

if TYPE_CHECKING:
    from airflow.sdk import Asset, AssetAlias

__all__ = [
    "as_list",
    "check_api_generation",
    "check_flag",
    "check_gate_params",
    "check_identifier",
    "check_min_score",
    "check_regression_params",
    "check_risk_level",
    "check_severities",
    "gate_outlets",
    "is_templated",
]


def is_templated(value: Any) -> bool:
    """Tell a value Airflow will render at run time: checking it at DAG parse would be premature."""
    return isinstance(value, str) and "{{" in value


def as_list(value: Any, param: str) -> list[str] | None:
    """Read a list of strings, also from the string a rendered template gives.

    That string is a JSON list, the Python repr of a list (what ``"{{ params.x }}"`` renders for a list
    param), or comma-separated values.
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                try:
                    value = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    raise ValueError(f"{param}={value!r} is not a valid JSON list of strings.") from None
        else:
            value = [part.strip() for part in text.split(",") if part.strip()]
    if not isinstance(value, (list, tuple, set)) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{param}={value!r} must be a list of non-empty strings.")
    if not value:
        raise ValueError(f"{param} is empty: give at least one value, or leave it out.")
    return list(value)


def check_min_score(value: Any, param: str = "min_score") -> float | None:
    if value is None or value == "":
        return None
    try:
        score = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError, OverflowError):
        score = math.nan
    if not math.isfinite(score):  # NaN compares false with everything: it would pass any test
        raise ValueError(f"{param}={value!r} is not a number: give a score between 0 and 100.") from None
    if not 0 <= score <= 100:
        raise ValueError(f"{param}={value!r} is outside 0..100: ModelRed scores run from 0 to 100.")
    return score


def check_risk_level(value: Any, param: str = "max_risk_level") -> str | None:
    if value is None or value == "":
        return None
    level = normalize_level(value)
    if level not in RISK_LEVELS:
        raise ValueError(f"{param}={value!r} is not a risk level: use one of {list(RISK_LEVELS)}.")
    return level


def check_severities(value: Any, param: str = "fail_on_severities") -> tuple[str, ...]:
    if value is None or value == "" or value == []:
        return ()
    items = as_list(value, param) or []
    for item in items:
        if normalize_level(item) not in SEVERITIES:
            raise ValueError(f"{param} contains {item!r}: use severities from {list(SEVERITIES)}.")
    return tuple(dict.fromkeys(s for s in map(normalize_level, items) if s))


def check_gate_params(min_score: Any, max_risk_level: Any, fail_on_severities: Any) -> None:
    """Parse-time check of the gate parameters; templated values wait for run time."""
    if not is_templated(min_score):
        check_min_score(min_score)
    if not is_templated(max_risk_level):
        check_risk_level(max_risk_level)
    if not is_templated(fail_on_severities):
        check_severities(fail_on_severities)


def check_flag(value: Any, param: str) -> bool:
    """Require a real ``True``/``False``: ``"false"`` or ``0`` would read as a choice not made."""
    if not isinstance(value, bool):
        raise ValueError(f"{param}={value!r} must be True or False.")
    return value


def check_regression_params(max_score_drop: Any, baseline_assessment_id: Any) -> None:
    """Parse-time check of the regression gate's parameters; templated values wait for run time."""
    if not is_templated(max_score_drop):
        check_min_score(max_score_drop, "max_score_drop")
    if baseline_assessment_id is not None and not is_templated(baseline_assessment_id):
        check_identifier(baseline_assessment_id, "baseline_assessment_id")


def check_api_generation(value: Any, *, rendered: bool = False) -> str:
    """Check ``api_generation``: ``"resources"`` or ``"v2"`` (before rendering, a template passes)."""
    if not rendered and is_templated(value):
        return str(value)
    try:
        return ApiGeneration(value).value
    except ValueError:
        raise ValueError(
            f"api_generation={value!r} is unknown: use one of {[g.value for g in ApiGeneration]}"
        ) from None


def check_identifier(value: Any, param: str) -> str:
    """Check a model slug/id or an assessment id: a string with something in it besides whitespace."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{param}={value!r}: give a non-empty string (it may be a template).")
    return value


def gate_outlets(asset: Asset | None, fail_on_gate: Any, outlets: Any) -> tuple[Any, AssetAlias | None]:
    """Return the task's outlets for ``asset``, and the alias its event goes through (operator and sensor).

    Airflow records an event for each outlet of a task that succeeds. With ``fail_on_gate=True`` only a
    pass succeeds, so the asset itself is the outlet. With ``False`` a failing model's task succeeds too:
    the outlet is then an ``AssetAlias`` (``modelred-passed:<asset name>``) that the asset's event is
    added to only on a pass. Without ``asset``: ``outlets`` unchanged and no alias.
    """
    check_flag(fail_on_gate, "fail_on_gate")
    if asset is None:
        return outlets, None
    alias = None
    if not fail_on_gate:
        from airflow.sdk import AssetAlias

        alias = AssetAlias(f"modelred-passed:{asset.name}")
    outlet = asset if alias is None else alias
    current = list(outlets) if isinstance(outlets, (list, tuple)) else ([outlets] if outlets else [])
    return (current if outlet in current else [*current, outlet]), alias
