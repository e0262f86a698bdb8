"""Helpers of the emulator's contract tests: a plain HTTP client (requests), never our hook."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests

KEY = "mr_test_key_0001"
GLOBEX_KEY = "mr_globex_only_0002"  # bound to org_globex
FREE_KEY = "mr_free_tier_0003"
ISO_Z = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"

E2_ASSESSMENT_FIELDS = {
    "assessment_id", "id", "model_id", "modelId", "status", "priority", "progress", "test_types", "testTypes",
    "probe_pack_ids", "probePackIds", "provider", "created_at", "createdAt", "completed_at", "completedAt",
    "error_message", "errorMessage", "report", "detailedReport",
}  # fmt: skip


class Api:
    """Just requests + headers: what a client of the real ModelRed would send."""

    def __init__(self, base: str, key: str | None = KEY, v2: bool = False, org: str | None = None) -> None:
        self.base = base
        self.session = requests.Session()
        if key:
            self.session.headers["Authorization"] = f"Bearer {key}"
            if v2:
                self.session.headers["x-api-key"] = key
        if org:
            self.session.headers["x-organization-id"] = org

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        kw.setdefault("timeout", 10)
        return self.session.request(method, self.base + path, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.request("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> requests.Response:
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.request("DELETE", path, **kw)


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(interval)


def assert_error(resp: requests.Response, status: int, code: str, message_part: str = "") -> dict[str, Any]:
    """The contract's flat error body: ``{"error": str, "code": CODE, "details": ...}``."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert isinstance(body["error"], str) and body["error"]
    assert body["code"] == code
    assert "details" in body
    assert message_part in body["error"]
    return body
