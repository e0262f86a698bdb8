"""A loopback stand-in for the one dbt Cloud endpoint ``DbtCloudRunJobTrigger`` polls (bench only).

``DbtCloudHook.get_job_details`` (apache-airflow-providers-dbt-cloud) builds
``https://{connection host or cloud.getdbt.com}/api/v2/accounts/{account_id}/runs/{run_id}/`` and
reads ``data.status``: 1 queued, 2 starting, 3 running (the trigger polls again), 10 success,
20 error, 30 cancelled (it fires). The hook always speaks HTTPS, so this server answers that route
over TLS on loopback with a self-signed certificate for ``localhost`` (the triggerer trusts it through
``SSL_CERT_FILE``), one aiohttp session per poll as the hook opens it. A plain-HTTP control port lets
the bench create runs, end them and read the request counters:

* ``POST /_bench/runs?n=K`` -> ``{"ids": [...]}`` (K new runs, RUNNING);
* ``POST /_bench/runs/{id}/complete`` (status 10);
* ``GET /_bench/counts`` -> ``{"GET /api/v2/accounts/{account}/runs/{id}/": ..., "connections": ...}``.

    python bench/_dbt_cloud_server.py CERT_DIR API_PORT CONTROL_PORT   (prints one JSON line once up)
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the repo's tests/
from tests.security.hostile import certificate

RUN_ROUTE = "GET /api/v2/accounts/{account}/runs/{id}/"


async def main(folder: Path, api_port: int, control_port: int) -> None:
    status: dict[int, int] = {}
    counts: Counter[str] = Counter()

    async def run_status(request: web.Request) -> web.Response:
        counts[RUN_ROUTE] += 1
        run_id = int(request.match_info["run_id"])
        if run_id not in status:
            return web.json_response({"status": {"code": 404}}, status=404)
        return web.json_response({"data": {"id": run_id, "status": status[run_id]}})

    async def create(request: web.Request) -> web.Response:
        n = int(request.query.get("n", "1"))
        first = len(status) + 1
        ids = list(range(first, first + n))
        status.update(dict.fromkeys(ids, 3))
        return web.json_response({"ids": ids})

    async def complete(request: web.Request) -> web.Response:
        status[int(request.match_info["run_id"])] = 10
        return web.json_response({})

    async def get_counts(request: web.Request) -> web.Response:
        return web.json_response(dict(counts))

    api = web.Application()
    api.router.add_get("/api/v2/accounts/{account}/runs/{run_id}/", run_status)
    control = web.Application()
    control.router.add_post("/_bench/runs", create)
    control.router.add_post("/_bench/runs/{run_id}/complete", complete)
    control.router.add_get("/_bench/counts", get_counts)
    tls, cert = certificate(folder, ("localhost", "127.0.0.1"))  # self-signed, valid for a day
    api_runner, control_runner = web.AppRunner(api, access_log=None), web.AppRunner(control, access_log=None)
    await api_runner.setup()
    await control_runner.setup()
    await web.TCPSite(api_runner, "127.0.0.1", api_port, ssl_context=tls, backlog=1024).start()
    await web.TCPSite(control_runner, "127.0.0.1", control_port).start()
    print(json.dumps({"cert": str(cert)}), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])))
