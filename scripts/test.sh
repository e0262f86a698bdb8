#!/usr/bin/env bash
# Sets everything up on a fresh machine and runs the whole test suite: ruff, mypy, pytest
# (unit, contract, DAG and end-to-end tests; every server they need is started by the tests).
# Extra arguments go to pytest, e.g. scripts/test.sh tests/hook -x
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh
.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
