#!/usr/bin/env bash
# Creates .venv with the provider (editable), Airflow and the test tools (the test extra includes the
# Celery provider, celery[redis] and psycopg2 for tests/production). Idempotent; needs only Python 3.11
# and the package registry. Source it or run it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
AIRFLOW_VERSION="${AIRFLOW_VERSION:-3.3.2}"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
if ! "$PY" -m uv --version >/dev/null 2>&1; then
  "$PY" -m pip install --quiet --disable-pip-version-check uv
fi
[ -x .venv/bin/python ] || "$PY" -m uv venv --quiet --python "$PY" .venv
"$PY" -m uv pip install --quiet --python .venv/bin/python -e ".[test]" "apache-airflow==${AIRFLOW_VERSION}"
