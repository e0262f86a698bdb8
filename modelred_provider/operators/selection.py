"""Probe selection from the catalogue (``GET /probes``), done on the client like the ModelRed SDK."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modelred_provider.api.models import ProbeIndex

__all__ = ["select_probe_keys"]


def select_probe_keys(
    index: ProbeIndex, categories: Iterable[str] = (), severities: Iterable[str] = ()
) -> list[str]:
    """Keys of the active probes matching any of ``categories`` and any of ``severities``.

    An empty filter matches everything. Raises ``ValueError`` naming the filter when nothing matches.
    """
    cats = {c.strip().lower() for c in categories}
    sevs = {s.strip().lower() for s in severities}
    keys = [
        p.key
        for p in index.probes
        if p.is_active
        and (not cats or (p.category or "").lower() in cats)
        and (not sevs or (p.severity or "").lower() in sevs)
    ]
    if not keys:
        available = sorted({(p.category or "").lower() for p in index.probes if p.category})
        raise ValueError(
            f"No active ModelRed probe matches probe_categories={sorted(cats)} and "
            f"probe_severities={sorted(sevs)}; categories this key can use: {available}. "
            "Widen the selection or pass test_types explicitly."
        )
    return list(dict.fromkeys(keys))
