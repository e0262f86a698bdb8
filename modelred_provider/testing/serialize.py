"""Stored records -> wire objects, with the field spellings of the contract."""

from __future__ import annotations

import time
from typing import Any

from modelred_provider.testing.state import COMPLETED, AssessmentRecord, EmulatorState, iso

__all__ = ["assessment_wire", "model_wire", "pack_wire", "probe_wire"]


def model_wire(model: dict[str, Any]) -> dict[str, Any]:
    """Render a Model (contract 1.3); internal keys (leading ``_``) and ``providerConfig`` stay out."""
    return {k: v for k, v in model.items() if not k.startswith("_") and k != "providerConfig"}


def probe_wire(probe: dict[str, Any]) -> dict[str, Any]:
    return dict(probe)


def pack_wire(pack: dict[str, Any], imported_at: str | None = None) -> dict[str, Any]:
    out = {k: v for k, v in pack.items() if k != "probeKeys"}
    out["probes"] = list(pack["probeKeys"])
    if imported_at is not None:
        out["importedAt"] = imported_at
    return out


def assessment_wire(
    state: EmulatorState, record: AssessmentRecord, *, initial: bool = False
) -> dict[str, Any]:
    """Render an Assessment in both spellings (snake_case first, as the E2 SDK reads it, and camelCase).

    ``initial`` renders the state at creation (QUEUED), which is what a create call answers.
    """
    snap = record.snapshot(record.created_mono if initial else time.monotonic())
    if initial and snap.status != "QUEUED" and record.forced is None:
        snap = type(snap)("QUEUED", 0, None, None)
    report = state.report_for(record) if snap.status == COMPLETED else None
    created = iso(record.created_epoch)
    completed = iso(snap.completed_epoch) if snap.completed_epoch is not None else None
    model = record.model
    return {
        "assessment_id": record.id,
        "id": record.id,
        "model_id": model["id"],
        "modelId": model["id"],
        "status": snap.status,
        "priority": record.priority,
        "progress": snap.progress,
        "test_types": list(record.probe_keys),
        "testTypes": list(record.probe_keys),
        "probe_pack_ids": record.probe_pack_ids,
        "probePackIds": record.probe_pack_ids,
        "provider": model["provider"],
        "created_at": created,
        "createdAt": created,
        "completed_at": completed,
        "completedAt": completed,
        "error_message": snap.error,
        "errorMessage": snap.error,
        "report": report,
        "detailedReport": report,
    }
