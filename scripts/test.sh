#!/usr/bin/env bash
# Sets everything up on a fresh machine and runs the whole test suite: ruff, mypy, pytest
# (unit, contract, DAG, end-to-end and production-campaign tests; every server they need is started
# by the tests).
# Extra arguments go to pytest, e.g. scripts/test.sh tests/hook -x
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh
# Debian's postgresql and redis-server for tests/production (started per test, never as services).
# Without root or sudo they may be missing: tests/production then skips, except under CI (CI=true).
if ! bash scripts/install-services.sh; then
  [ "${CI:-}" != "true" ] || exit 1
  echo "test.sh: postgresql/redis-server not installed; tests/production will skip" >&2
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check modelred_provider tests bench dags_examples
.venv/bin/mypy
# The end-to-end tests share one deployment; run them backwards so none can lean on another's leftovers.
export MODELRED_E2E_ORDER="${MODELRED_E2E_ORDER:-reverse}"
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
