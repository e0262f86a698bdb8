"""The production campaign's plan: its key, chaos, models and the scenario the emulator plays."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .services import missing

HERE = Path(__file__).resolve().parent


# Shaped like a real key and unlike anything else, so grepping for it cannot hit by accident.
CAMPAIGN_API_KEY = "mr_prod_9Hs3LqW7xBv2Kd6R"


CHAOS = {"rate": 0.25, "seed": 20261202, "stall_seconds": 7, "retry_after": 1}


CLIENT_TIMEOUT = 5  # the connection's timeout extra; chaos stalls outlast it


FAIL_ERROR = "Target endpoint answered HTTP 500 for 41 of 60 probes (campaign)"


# 60 models, each with its fate: (prefix, outcome, how many, scenario extras).
PLAN: tuple[tuple[str, str, int, dict[str, int | str]], ...] = (
    ("pass", "pass", 33, {"score": 88}),
    ("gate", "low_score", 9, {"score": 31}),
    ("fail", "fail", 9, {"error": FAIL_ERROR, "seconds": 16}),
    ("stuck", "stuck", 9, {}),
)


# Stream-phase models: stuck until the test completes them.
STREAM_MODELS = [f"stream-{i:02d}" for i in range(20)]


def campaign_models() -> dict[str, str]:
    """{model slug: outcome}, 60 distinct models."""
    out: dict[str, str] = {}
    for prefix, outcome, n, _ in PLAN:
        for i in range(n):
            out[f"campaign-{prefix}-{i:02d}"] = outcome
    return out


def scenario(chaos: dict | None) -> dict:
    models: dict[str, dict] = {}
    for prefix, outcome, n, extras in PLAN:
        for i in range(n):
            spec = {"outcome": outcome, **extras}
            if outcome in ("pass", "low_score"):
                spec["seconds"] = 20 + (i * 7) % 40  # 20..59 s: deferred while the kills happen
            models[f"campaign-{prefix}-{i:02d}"] = spec
    for slug in STREAM_MODELS:
        models[slug] = {"outcome": "stuck"}
    return {"models": models, **({"chaos": chaos} if chaos else {})}


def require_services() -> None:
    gone = missing()
    if not gone:
        return
    message = f"missing {', '.join(gone)}: run scripts/install-services.sh"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI must run the production campaign: {message}", pytrace=False)
    pytest.skip(message)
