"""Many triggers starting at once in a fresh triggerer (a restart, a burst of deferrals) all import the
async transport for their first request: none may see it half-imported (found by bench/real_triggerer.py:
'partially initialized module ... has no attribute AsyncTransport' in one trigger's error event)."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import asyncio, sys
from modelred_provider.hooks.modelred import ModelRedHook
from modelred_provider.hooks.connection import ConnectionSettings

assert "modelred_provider.hooks._transport_async" not in sys.modules

async def settings(self):
    return ConnectionSettings(origin="http://127.0.0.1:1", api_key="mr_test_key_0001")

ModelRedHook.asettings = settings

async def main():
    hooks = [ModelRedHook(modelred_conn_id="x") for _ in range(50)]
    results = await asyncio.gather(*(h._atransport() for h in hooks), return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    assert not failed, failed[:3]

asyncio.run(main())
print("ok")
"""


def test_fifty_first_requests_at_once_all_get_the_transport():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")
