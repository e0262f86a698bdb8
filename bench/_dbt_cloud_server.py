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
import datetime
import json
import ssl
import sys
from collections import Counter
from pathlib import Path

from aiohttp import web

RUN_ROUTE = "GET /api/v2/accounts/{account}/runs/{id}/"


def make_cert(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for ``localhost`` (and 127.0.0.1), valid for a day."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


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
    cert, key = make_cert(folder)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    api_runner, control_runner = web.AppRunner(api, access_log=None), web.AppRunner(control, access_log=None)
    await api_runner.setup()
    await control_runner.setup()
    await web.TCPSite(api_runner, "127.0.0.1", api_port, ssl_context=tls, backlog=1024).start()
    await web.TCPSite(control_runner, "127.0.0.1", control_port).start()
    print(json.dumps({"cert": str(cert)}), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])))
