"""Scenarios: per-model outcomes, from a JSON file or a dict.

Shape: ``{"models": {"<slug or id>": {"outcome": "pass"|"fail"|"low_score"|"stuck", "score": 42,
"error": "...", "seconds": 5, "provider": "openai", "displayName": "..."}}}``. Every key but
``outcome`` is optional. A slug that is not in the catalogue adds a model (``provider`` defaults to ``rest``).
An optional top-level ``"chaos": {"rate": 0.25, "seed": 7}`` faults that share of all API requests at
random (``modelred_provider.testing.faults.Chaos``; read with :func:`load_chaos`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelred_provider.testing.catalogue import OUTCOMES, PROVIDERS
from modelred_provider.testing.faults import Chaos, make_chaos

__all__ = ["ModelScenario", "load_chaos", "load_scenario", "read_scenario"]

_ALLOWED_KEYS = {"outcome", "score", "error", "seconds", "provider", "displayName", "organizationId"}


@dataclass(frozen=True)
class ModelScenario:
    """What a scenario says of one model: its ``outcome`` and the details."""

    outcome: str
    score: float | None = None
    error: str | None = None
    seconds: float | None = None
    provider: str | None = None
    display_name: str | None = None
    organization_id: str | None = None


def read_scenario(source: str | Path | dict[str, Any] | None) -> dict[str, Any]:
    """Read the scenario's JSON object (from a file path, or the dict itself); ``{}`` for None."""
    if source is None:
        return {}
    if isinstance(source, (str, Path)):
        path = Path(source)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ValueError(f"Scenario file {str(path)!r} does not exist") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"Scenario file {str(path)!r} is not valid JSON: {exc}") from None
    else:
        data = source
    if not isinstance(data, dict) or not isinstance(data.get("models", {}), dict):
        raise ValueError('A scenario must be a JSON object like {"models": {"<slug>": {"outcome": "fail"}}}')
    unknown_top = set(data) - {"models", "chaos"}
    if unknown_top:
        raise ValueError(f"Unknown scenario key(s) {sorted(unknown_top)}; the keys are 'models' and 'chaos'")
    return data


def load_chaos(source: str | Path | dict[str, Any] | None) -> Chaos | None:
    """Read the scenario's ``chaos`` setting, validated (None when it has none)."""
    return make_chaos(read_scenario(source).get("chaos"))


def load_scenario(source: str | Path | dict[str, Any] | None) -> dict[str, ModelScenario]:
    """Parse a scenario (path to a JSON file, or the dict itself) into ``{slug or id: ModelScenario}``."""
    data = read_scenario(source)
    out: dict[str, ModelScenario] = {}
    for slug, spec in data.get("models", {}).items():
        out[slug] = _parse_model(slug, spec)
    return out


def _parse_model(slug: str, spec: Any) -> ModelScenario:
    where = f"scenario for model {slug!r}"
    if not isinstance(spec, dict):
        raise ValueError(f"The {where} must be an object with an 'outcome'")
    unknown = set(spec) - _ALLOWED_KEYS
    if unknown:
        raise ValueError(f"Unknown key(s) {sorted(unknown)} in the {where}; allowed: {sorted(_ALLOWED_KEYS)}")
    outcome = spec.get("outcome", "pass")
    if outcome not in OUTCOMES:
        raise ValueError(f"The {where} has outcome {outcome!r}; use one of {', '.join(OUTCOMES)}")
    score = spec.get("score")
    if score is not None and (
        isinstance(score, bool) or not isinstance(score, (int, float)) or not 0 <= score <= 100
    ):
        raise ValueError(f"The {where} has score {score!r}; use a number from 0 to 100")
    seconds = spec.get("seconds")
    if seconds is not None and (
        isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0
    ):
        raise ValueError(f"The {where} has seconds {seconds!r}; use a number >= 0")
    provider = spec.get("provider")
    if provider is not None and provider not in PROVIDERS:
        raise ValueError(f"The {where} has provider {provider!r}; use one of {', '.join(PROVIDERS)}")
    error = spec.get("error")
    if error is not None and not isinstance(error, str):
        raise ValueError(f"The {where} has a non-string error")
    return ModelScenario(
        outcome=outcome,
        score=score,
        error=error,
        seconds=seconds,
        provider=provider,
        display_name=spec.get("displayName"),
        organization_id=spec.get("organizationId"),
    )
