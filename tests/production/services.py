"""Postgres and Redis as the test's own processes: a temp dir, free loopback ports, stopped by group.

Nothing system-wide is used or started: ``initdb`` makes a throwaway cluster, ``postgres`` and
``redis-server`` run in their own process groups (``harness.Component``) and are stopped by group,
their files removed. Postgres refuses to run as root: as root, the cluster belongs to (and runs as) the
``postgres`` user that Debian's package creates.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.e2e.harness import Component, free_port, wait_until

PG_BIN = Path(os.environ.get("MODELRED_PG_BIN", "/usr/lib/postgresql/15/bin"))
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
PG_USER = "airflow"  # the cluster's superuser; trust auth on loopback only
PG_DB = "airflow"


def missing() -> list[str]:
    """What scripts/install-services.sh would install, if anything is missing."""
    out = [str(PG_BIN / b) for b in ("initdb", "postgres", "psql", "pg_dump") if not (PG_BIN / b).exists()]
    if not Path(REDIS_SERVER).exists():
        out.append("redis-server")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            out.append("the postgres user (postgres will not run as root)")
    return out


def _as_db_owner(argv: list[str]) -> list[str]:
    """Postgres will not run as root: run it as the postgres user then."""
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


class PostgresServer:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="modelred-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.component: Component | None = None

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the database, with the psycopg2 driver."""
        return f"postgresql+psycopg2://{PG_USER}@127.0.0.1:{self.port}/{PG_DB}"

    @property
    def celery_result_backend(self) -> str:
        return f"db+postgresql+psycopg2://{PG_USER}@127.0.0.1:{self.port}/{PG_DB}"

    def start(self, timeout: float = 120) -> PostgresServer:
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
        init = subprocess.run(
            _as_db_owner(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    PG_USER,
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                    "--locale=C.UTF-8",
                ]
            ),
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert init.returncode == 0, f"initdb failed:\n{init.stdout[-2000:]}\n{init.stderr[-2000:]}"
        argv = [str(PG_BIN / "postgres"), "-D", str(self.data), "-p", str(self.port), "-k", str(self.dir)]
        for setting in (
            "listen_addresses=127.0.0.1",
            "max_connections=300",  # every Airflow process and task holds a few
            "fsync=off",  # a throwaway cluster: speed over durability
            "synchronous_commit=off",
            "full_page_writes=off",
        ):
            argv += ["-c", setting]
        self.component = Component("postgres", _as_db_owner(argv), env, self.dir, self.dir).start()
        wait_until(
            "postgres accepting connections",
            lambda: self.psql("select 1", db="postgres").strip() == "1",
            timeout=timeout,
            interval=0.5,
            diagnostics=self.component.describe,
        )
        self.psql(f"create database {PG_DB}", db="postgres")
        return self

    def psql(self, sql: str, db: str = PG_DB) -> str:
        result = subprocess.run(
            [
                str(PG_BIN / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                PG_USER,
                "-d",
                db,
                "-XAtq",
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, f"psql {sql!r}: {result.stderr[-2000:]}"
        return result.stdout

    def dump(self) -> str:
        """``pg_dump`` of the metadata DB (schema and every row), as text."""
        result = subprocess.run(
            [str(PG_BIN / "pg_dump"), "-h", "127.0.0.1", "-p", str(self.port), "-U", PG_USER, PG_DB],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, f"pg_dump failed: {result.stderr[-2000:]}"
        return result.stdout

    def stop(self) -> None:
        if self.component is not None:
            self.component.stop(grace=15)
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisServer:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="modelred-redis-"))
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.component: Component | None = None

    def start(self, timeout: float = 60) -> RedisServer:
        argv = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir)]
        argv += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        self.component = Component("redis", argv, env, self.dir, self.dir).start()
        wait_until(
            "redis accepting connections",
            self._ping,
            timeout=timeout,
            interval=0.3,
            diagnostics=self.component.describe,
        )
        return self

    def _ping(self) -> bool:
        import socket

        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")

    def stop(self) -> None:
        if self.component is not None:
            self.component.stop(grace=10)
        shutil.rmtree(self.dir, ignore_errors=True)
