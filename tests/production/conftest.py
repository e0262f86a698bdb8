"""Fixtures of the production campaign: Postgres, Redis, the emulator with chaos, and a Celery stack.

Every test here is marked ``production`` (``pytest -m production`` selects them alone). Postgres and
Redis are the tests' own processes (see services.py), started once per session and stopped by process
group in the finalisers, also when a test fails. Without them the tests skip, except under CI
(``CI=true``), where a missing service fails the run: scripts/install-services.sh installs them.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import AirflowStack, CeleryBackend, EmulatorProcess

from .services import PostgresServer, RedisServer
from .support import (
    CAMPAIGN_API_KEY,
    CHAOS,
    CLIENT_TIMEOUT,
    HERE,
    STREAM_MODELS,
    campaign_models,
    require_services,
    scenario,
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).resolve().is_relative_to(HERE):
            item.add_marker(pytest.mark.production)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    require_services()
    server = PostgresServer()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis() -> Iterator[RedisServer]:
    require_services()
    server = RedisServer()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def campaign_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    log_dir = tmp_path_factory.mktemp("campaign-emulator")
    scenario_file = log_dir / "scenario.json"
    scenario_file.write_text(json.dumps(scenario(CHAOS)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    emulator = EmulatorProcess([CAMPAIGN_API_KEY], 30, log_dir, env, scenario=scenario_file)
    try:
        yield emulator.start()
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def celery_stack(
    postgres: PostgresServer, redis: RedisServer, campaign_emulator: EmulatorProcess
) -> Iterator[AirflowStack]:
    connection = {
        "conn_type": "modelred",
        "host": campaign_emulator.url,
        "password": CAMPAIGN_API_KEY,
        "extra": {
            "dashboard_url": campaign_emulator.url,
            "timeout": CLIENT_TIMEOUT,
            "max_retries": 5,
            "retry_backoff": 0.5,
            "retry_max_wait": 5,
        },
    }
    extra_env = {
        "MODELRED_CAMPAIGN_MODELS": ",".join(campaign_models()),
        "MODELRED_STREAM_MODELS": ",".join(STREAM_MODELS),
        "AIRFLOW__CORE__PARALLELISM": "32",
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "128",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_SIZE": "3",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_MAX_OVERFLOW": "5",
        # A task whose worker died stops heartbeating: fail (and retry) it after 30 s, not 5 min.
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
        # A killed scheduler's queued/running tasks are adopted by the restarted one.
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "10",
        "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "10",
        # A message a killed worker had taken but not run: back on the queue within 2 minutes.
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "120",
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "15",
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "300",
        "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
        # Triggerer HA: heartbeat every 2 s; a triggerer silent for 10 s loses its triggers to the other.
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
        "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
    }
    stack = AirflowStack(
        [HERE / "dags"],
        connection,
        extra_env,
        database_url=postgres.url,
        celery=CeleryBackend(redis.url, postgres.celery_result_backend, workers=2, concurrency=4),
        triggerers=2,
    )
    try:
        yield stack.start(timeout=300)
    finally:
        stack.stop()
        if os.environ.get("MODELRED_E2E_KEEP") != "1":
            shutil.rmtree(stack.home, ignore_errors=True)
