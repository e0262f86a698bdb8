"""The Airflow CLI sees the provider and its hook, and `airflow connections test` runs our
test_connection() against the emulator over real HTTP (the package is installed editable, so its
``apache_airflow_provider`` entry point is registered)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from modelred_provider.testing.emulator import ModelRedEmulator

from .support import KEY

AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def _env(conn: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "AIRFLOW__CORE__TEST_CONNECTION": "Enabled", "NO_COLOR": "1"}
    if conn is not None:
        env["AIRFLOW_CONN_MODELRED_DEFAULT"] = json.dumps({"conn_type": "modelred", **conn})
    return env


def _run_all(
    commands: list[tuple[list[str], dict[str, str]]], cwd: Path
) -> list[subprocess.CompletedProcess[str]]:
    """Run the CLI commands two at a time (each pays Airflow's ~5 s start-up)."""
    results: list[subprocess.CompletedProcess[str]] = []
    for start in range(0, len(commands), 2):
        running = [
            (
                args,
                subprocess.Popen(
                    [AIRFLOW, *args],
                    env=env,
                    cwd=cwd,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                ),
            )
            for args, env in commands[start : start + 2]
        ]
        for args, process in running:
            out, err = process.communicate(timeout=120)
            results.append(subprocess.CompletedProcess(args, process.returncode, out, err))
    return results


def test_cli_lists_the_provider_and_hook_and_tests_the_connection(
    emu: ModelRedEmulator, tmp_path: Path
) -> None:
    good = {"host": emu.url, "password": KEY}
    bad = {"host": emu.url, "password": "mr_revoked_key_0000"}
    providers, hooks, passing, failing = _run_all(
        [
            (["providers", "list"], _env()),
            (["providers", "hooks"], _env()),
            (["connections", "test", "modelred_default"], _env(good)),
            (["connections", "test", "modelred_default"], _env(bad)),
        ],
        tmp_path,
    )
    assert providers.returncode == 0, providers.stderr
    assert "airflow-provider-modelred" in providers.stdout
    assert hooks.returncode == 0, hooks.stderr
    line = next(x for x in hooks.stdout.splitlines() if x.startswith("modelred "))
    assert "modelred_provider.hooks.modelred.ModelRedHook" in line and "modelred_conn_id" in line
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert "Connection success!" in passing.stdout
    assert failing.returncode != 0
    assert "Connection failed!" in failing.stdout
    assert "ModelRed rejected the API key (HTTP 401: Invalid API key)" in failing.stdout
    for result in (passing, failing):
        assert KEY not in result.stdout + result.stderr
        assert "mr_revoked_key_0000" not in result.stdout + result.stderr
    assert emu.count("GET", "/api/models") == 2  # one cheap call per test
