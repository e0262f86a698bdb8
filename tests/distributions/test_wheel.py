"""The distributions as a user and a downstream packager get them.

Builds the sdist and the wheel from the sdist (``python -m build``, as a release would), checks their
metadata with ``twine check --strict``, checks what each holds, then installs the **wheel** with Airflow
3.3.2 into a fresh venv outside the repository and smoke-tests it there: ``airflow providers list`` shows
the provider, ``airflow connections test`` passes against the emulator started through its CLI, and one
deferred run of the release-gate example DAG (``airflow dags test``) ends in success. A file missing
from the wheel, a broken entry point or metadata fails here. About 1-2 minutes with a warm uv cache.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import modelred_provider

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_VERSION = "3.3.2"
API_KEY = "mr_packaging_key_0001"

pytestmark = pytest.mark.packaging
# What git leaves out of a checkout is left out of the copy the distributions are built from.
_IGNORED = [
    line.strip().rstrip("/") for line in (ROOT / ".gitignore").read_text().splitlines() if line.strip()
]


def _run(cmd: list[str], *, timeout: float, **kwargs: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, **kwargs)  # type: ignore[call-overload]
    output = f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}\n{output}"
    return proc


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    # Built from a copy: setuptools writes <name>.egg-info into the tree it builds, and one left in the
    # checkout is found by importlib.metadata and goes stale as the code changes.
    source = tmp_path_factory.mktemp("source") / "repo"
    left_before = sorted(ROOT.glob("*.egg-info"))
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", *_IGNORED))
    # Default build: the sdist first, then the wheel built from the unpacked sdist, so the sdist must
    # hold everything the build needs.
    _run([sys.executable, "-m", "build", "--outdir", str(out), str(source)], timeout=300)
    assert sorted(ROOT.glob("*.egg-info")) == left_before, "the build wrote into the checkout"
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return {"wheel": wheel, "sdist": sdist}


def test_twine_check_passes(dists: dict[str, Path]) -> None:
    _run(
        [sys.executable, "-m", "twine", "check", "--strict", str(dists["sdist"]), str(dists["wheel"])],
        timeout=120,
    )


def test_versions_agree(dists: dict[str, Path]) -> None:
    from modelred_provider.get_provider_info import get_provider_info

    version = modelred_provider.__version__
    assert dists["wheel"].name.startswith(f"airflow_provider_modelred-{version}-")
    assert get_provider_info()["versions"][0] == version


def test_sdist_holds_what_a_packager_needs_to_rebuild_and_test(dists: dict[str, Path]) -> None:
    with tarfile.open(dists["sdist"]) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    for required in (
        "LICENSE",
        "README.md",
        "CHANGELOG.md",
        "pyproject.toml",
        "modelred_provider/py.typed",
        "modelred_provider/testing/catalogue.json",
        "tests/conftest.py",
        "tests/distributions/test_wheel.py",
        "docs/reference.md",
        "dags_examples/modelred_release_gate.py",
        "scripts/test.sh",
    ):
        assert required in names, required
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_wheel_holds_only_the_package(dists: dict[str, Path]) -> None:
    with zipfile.ZipFile(dists["wheel"]) as whl:
        names = whl.namelist()
        metadata = whl.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    top = {n.split("/", 1)[0] for n in names}
    dist_info = f"airflow_provider_modelred-{modelred_provider.__version__}.dist-info"
    assert top == {"modelred_provider", dist_info}
    assert "modelred_provider/py.typed" in names
    assert "modelred_provider/testing/catalogue.json" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not [n for n in names if n.startswith(("tests/", "docs/", "dags_examples/")) or "__pycache__" in n]
    assert "License-Expression: Apache-2.0" in metadata
    assert "Classifier: License ::" not in metadata  # no license classifier beside an SPDX expression
    assert "Provides-Extra: testing" in metadata
    # The index's page (PACKAGE.md) renders there: no relative links or images; it opens with what a
    # user does (install, connection, operator) before the contributor's commands.
    assert "](docs/" not in metadata and "](ARCHITECTURE.md)" not in metadata
    order = [
        metadata.index(m)
        for m in ("pip install", "AIRFLOW_CONN_MODELRED_DEFAULT", "ModelRedAssessmentOperator(")
    ]
    assert order == sorted(order) and order[-1] < metadata.index("bash scripts/demo.sh")


def test_the_index_page_shows_the_readme_snippet_that_the_suite_runs() -> None:
    """tests/dags/test_readme_snippet.py runs README.md's operator; PACKAGE.md must show the same one."""
    root = Path(modelred_provider.__file__).resolve().parents[1]
    pattern = r"## Use it\n\n(```python\n.*?```)"
    readme = re.search(pattern, (root / "README.md").read_text(), re.S)
    package = re.search(pattern, (root / "PACKAGE.md").read_text(), re.S)
    assert readme and package and readme.group(1) == package.group(1)


def _json_rows(stdout: str) -> list[dict[str, str]]:
    """The JSON list an ``airflow ... -o json`` command prints, after any log lines."""
    for line in reversed(stdout.splitlines()):
        try:
            rows = json.loads(line)
        except ValueError:
            continue
        if isinstance(rows, list):
            return rows
    raise AssertionError(f"no JSON list in:\n{stdout}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def fresh_venv(dists: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    _run([sys.executable, "-m", "uv", "venv", "--quiet", "--python", sys.executable, str(venv)], timeout=120)
    _run(
        [
            sys.executable,
            "-m",
            "uv",
            "pip",
            "install",
            "--quiet",
            "--python",
            str(venv / "bin" / "python"),
            str(dists["wheel"]),
            f"apache-airflow=={AIRFLOW_VERSION}",
        ],
        timeout=900,
    )
    return venv


@pytest.fixture
def emulator(fresh_venv: Path, tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    log = (tmp_path / "emulator.log").open("w")
    proc = subprocess.Popen(
        [
            str(fresh_venv / "bin" / "python"),
            "-m",
            "modelred_provider.testing.emulator",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--api-key",
            API_KEY,
            "--assessment-seconds",
            "3",
        ],
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/_emulator/health", timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, (tmp_path / "emulator.log").read_text()
                assert time.monotonic() < deadline, "the emulator did not answer within 60 s"
                time.sleep(0.2)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        log.close()


@pytest.mark.timeout(1500)
def test_wheel_in_a_fresh_venv_lists_tests_its_connection_and_runs_a_deferred_dag(
    fresh_venv: Path, emulator: str, tmp_path: Path
) -> None:
    bin_dir = fresh_venv / "bin"
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(ROOT / "dags_examples" / "modelred_release_gate.py", dags)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHON", "VIRTUAL_ENV"))}
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        AIRFLOW_HOME=str(tmp_path / "airflow-home"),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__TEST_CONNECTION="Enabled",
        AIRFLOW_CONN_MODELRED_DEFAULT=json.dumps(
            {"conn_type": "modelred", "host": emulator, "password": API_KEY}
        ),
        MODELRED_POLL_INTERVAL="1",
    )
    # cwd outside the repository: the provider must come from the wheel, not the checkout.
    run = {"env": env, "cwd": tmp_path}
    where = _run(
        [str(bin_dir / "python"), "-c", "import modelred_provider; print(modelred_provider.__file__)"],
        timeout=60,
        **run,
    )
    assert where.stdout.strip().startswith(str(fresh_venv)), where.stdout

    providers = _run([str(bin_dir / "airflow"), "providers", "list", "-o", "json"], timeout=180, **run)
    listed = {p["package_name"]: p["version"] for p in _json_rows(providers.stdout)}
    assert listed.get("airflow-provider-modelred") == modelred_provider.__version__, listed

    _run([str(bin_dir / "airflow"), "db", "migrate"], timeout=300, **run)
    tested = _run([str(bin_dir / "airflow"), "connections", "test", "modelred_default"], timeout=180, **run)
    assert "Connection success!" in tested.stdout, tested.stdout

    dag_test = _run(
        [str(bin_dir / "airflow"), "dags", "test", "modelred_release_gate", "-c", '{"model": "gpt-4o-prod"}'],
        timeout=300,
        **run,
    )
    assert "deferred" in (dag_test.stdout + dag_test.stderr).lower()  # the trigger ran, inline
    runs = _run(
        [str(bin_dir / "airflow"), "dags", "list-runs", "modelred_release_gate", "-o", "json"],
        timeout=180,
        **run,
    )
    states = [r["state"] for r in _json_rows(runs.stdout)]
    assert states == ["success"], runs.stdout
