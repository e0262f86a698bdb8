"""Redirect tricks (issue 9, item 1): a Location that two URL parsers read as two hosts must never carry
the key to the second one; nor may userinfo, control characters, odd ports, a scheme-relative URL
or a redirected POST. The decision and the URL followed come from one function
(``hooks.connection.redirect_target``) for both transports, and the URL followed is built from our
own origin, never from the authority the server wrote."""

from __future__ import annotations

import asyncio
import gzip
import json
from pathlib import Path

import pytest

from modelred_provider.api import errors as e

from .hostile import (
    MODELS,
    SECRET,
    Conn,
    HostileServer,
    Request,
    assessment,
    certificate,
    json_answer,
    response,
)
from .support import LeakCheck, connect


def _catcher(seen: list[Request]) -> HostileServer:
    """The host the key must never reach: it records everything and answers like ModelRed."""

    def handle(conn: Conn, request: Request) -> None:
        seen.append(request)
        conn.send(json_answer(MODELS))

    return HostileServer(handle)


def _redirecting(location: str, status: int = 302) -> HostileServer:
    def handle(conn: Conn, request: Request) -> None:
        conn.send(response(status, "", {"Location": location.format(path=request.path)}))

    return HostileServer(handle)


def _both_paths_refuse(monkeypatch: pytest.MonkeyPatch, origin: str, leaks: LeakCheck, **extras: object):
    """The sync list, the pre-POST list of a create, and the async GET: each refuses the redirect."""
    hook = connect(monkeypatch, origin, SECRET, **extras)
    with pytest.raises(e.ModelRedConfigurationError) as caught:
        hook.list_models()
    leaks.add(caught.value)

    async def poll() -> None:
        async with connect(monkeypatch, origin, SECRET, **extras) as ahook:
            with pytest.raises(e.ModelRedConfigurationError) as acaught:
                await ahook.aget_assessment("asm_1")
            leaks.add(acaught.value)

    asyncio.run(poll())
    return caught.value


def test_backslash_userinfo_trick_never_reaches_the_other_port(
    monkeypatch: pytest.MonkeyPatch, leaks: LeakCheck
) -> None:
    """``http://127.0.0.1:B\\@127.0.0.1:A/``: urllib.parse sees host A (same origin), urllib3 and
    WHATWG parsers see B. The key went to B with the old same-origin check."""
    seen: list[Request] = []
    with _catcher(seen) as catcher:
        front: HostileServer
        with _redirecting("") as front:
            location = f"http://127.0.0.1:{catcher.port}\\@127.0.0.1:{front.port}/api/models"
            front.handler = lambda conn, request: conn.send(response(302, "", {"Location": location}))
            error = _both_paths_refuse(monkeypatch, front.url, leaks)
            assert "not a plain same-origin URL" in str(error)
            # The list a create sends first is refused the same way; the create itself is not redirected.
            hook = connect(monkeypatch, front.url, SECRET)
            with pytest.raises(e.ModelRedError) as caught:
                hook.create_assessment("gpt-4o-prod", test_types=["reverse_psychology"])
            leaks.add(caught.value)
    assert seen == []


def test_the_same_trick_over_https(monkeypatch: pytest.MonkeyPatch, leaks: LeakCheck, tmp_path: Path) -> None:
    tls, cert = certificate(tmp_path)
    seen: list[Request] = []

    def catch(conn: Conn, request: Request) -> None:
        seen.append(request)
        conn.send(json_answer(MODELS))

    with HostileServer(catch, tls) as catcher, HostileServer(lambda c, r: None, tls) as front:
        location = f"https://127.0.0.1:{catcher.port}\\@127.0.0.1:{front.port}/api/models"
        front.handler = lambda conn, request: conn.send(response(302, "", {"Location": location}))
        _both_paths_refuse(monkeypatch, front.url, leaks, ca_bundle=str(cert))
    assert seen == []


@pytest.mark.parametrize(
    "location",
    [
        "http://evil@127.0.0.1:{port}/api/models",  # userinfo
        "http://127.0.0.1:{port}@127.0.0.1:{catcher}/api/models",  # userinfo that looks like an origin
        "//127.0.0.1:{catcher}/api/models",  # scheme-relative: another host
        "http://127.0.0.1:{catcher}/api/models",  # plainly another origin
        "http://127.0.0.1:99999/api/models",  # a port no parser agrees on
        "http://127.0.0.1:{port}x/api/models",  # an unparsable port
        "/api/models\tx",  # a control character
        "/api/mod\u00e9ls",  # non-ASCII
        "http:\\\\127.0.0.1:{catcher}/api/models",  # backslashes for slashes
        "/\\127.0.0.1:{catcher}/api/models",  # WHATWG reads /\\ as //
    ],
)
def test_every_location_two_parsers_could_read_apart_is_refused(
    location: str, monkeypatch: pytest.MonkeyPatch, leaks: LeakCheck
) -> None:
    seen: list[Request] = []
    with _catcher(seen) as catcher, HostileServer(lambda c, r: None) as front:
        target = location.format(port=front.port, catcher=catcher.port)
        raw = target.encode("utf-8").decode("latin-1")  # send the bytes as they are
        front.handler = lambda conn, request: conn.send(response(302, "", {"Location": raw}))
        _both_paths_refuse(monkeypatch, front.url, leaks)
    assert seen == []


def test_a_same_origin_redirect_of_a_read_is_followed_on_our_own_origin(
    monkeypatch: pytest.MonkeyPatch, leaks: LeakCheck
) -> None:
    def handle(conn: Conn, request: Request) -> None:
        if request.path.startswith("/old/"):
            conn.send(response(301, "", {"Location": "/api/models?page=1&pageSize=100"}))
        else:
            conn.send(json_answer(MODELS))

    with HostileServer(handle) as server:
        hook = connect(monkeypatch, server.url + "/old", SECRET)
        assert [m.model_id for m in hook.list_models()] == ["gpt-4o-prod"]
        absolute = f"http://127.0.0.1:{server.port}/api/models"
        server.handler = lambda conn, request: conn.send(
            response(302, "", {"Location": absolute})
            if request.path.startswith("/old/")
            else json_answer(MODELS)
        )
        assert [m.model_id for m in connect(monkeypatch, server.url + "/old", SECRET).list_models()]
    assert [r.path.split("?")[0] for r in server.requests] == ["/old/api/models", "/api/models"] * 2


def test_a_redirected_post_is_never_sent_again(monkeypatch: pytest.MonkeyPatch, leaks: LeakCheck) -> None:
    def handle(conn: Conn, request: Request) -> None:
        if request.method == "POST":
            conn.send(response(307, "", {"Location": request.path}))
        else:
            conn.send(json_answer({"data": [], "total": 0}))

    with HostileServer(handle) as server:
        hook = connect(monkeypatch, server.url, SECRET)
        with pytest.raises(e.ModelRedConfigurationError, match="it is not re-sent") as caught:
            hook.create_assessment("gpt-4o-prod", test_types=["reverse_psychology"])
        leaks.add(caught.value)
    assert [r.method for r in server.requests].count("POST") == 1


def test_a_server_that_redirects_forever_is_left_after_three(
    monkeypatch: pytest.MonkeyPatch, leaks: LeakCheck
) -> None:
    def handle(conn: Conn, request: Request) -> None:
        conn.send(response(302, "", {"Location": f"/hop{len(server.requests)}/api/models"}))

    with HostileServer(handle) as server:
        hook = connect(monkeypatch, server.url, SECRET, max_retries=0)
        with pytest.raises(e.ModelRedTransportError, match="more than 3 redirects") as caught:
            hook.list_models()
        leaks.add(caught.value)
        assert len(server.requests) == 4  # the request and the three redirects it may follow

        async def poll() -> None:
            async with connect(monkeypatch, server.url, SECRET, max_retries=0) as ahook:
                with pytest.raises(e.ModelRedTransportError, match="more than 3 redirects") as acaught:
                    await ahook.aget_assessment("asm_1")
                leaks.add(acaught.value)

        asyncio.run(poll())
        assert len(server.requests) == 8


@pytest.mark.parametrize("parser", ["default", "pure-python"])
def test_header_names_are_read_in_any_case(monkeypatch: pytest.MonkeyPatch, parser: str) -> None:
    """HTTP header names are case-insensitive (RFC 9110, section 5.1); proxies that speak HTTP/2 send them in
    lower case. A lower-case ``location`` is followed and a lower-case ``content-encoding`` decoded, by both
    transports, with either of aiohttp's parsers (its pure-Python one, used where its C extension is not
    built or ``AIOHTTP_NO_EXTENSIONS`` is set, keeps each name's case as sent)."""
    if parser == "pure-python":
        import aiohttp.client_proto
        import aiohttp.http_parser

        monkeypatch.setattr(
            aiohttp.client_proto, "HttpResponseParser", aiohttp.http_parser.HttpResponseParserPy
        )
    body = gzip.compress(json.dumps(MODELS).encode())

    def handle(conn: Conn, request: Request) -> None:
        if request.path.startswith("/old/"):
            conn.send(response(301, "", {"location": request.path[len("/old") :]}))
        else:
            conn.send(response(200, body, {"content-type": "application/json", "content-encoding": "gzip"}))

    with HostileServer(handle) as server:
        hook = connect(monkeypatch, server.url + "/old", SECRET, max_retries=0)
        assert [m.model_id for m in hook.list_models()] == ["gpt-4o-prod"]

        async def alist() -> list[str]:
            async with connect(monkeypatch, server.url + "/old", SECRET, max_retries=0) as ahook:
                return [a.id for a in await ahook.alist_assessments(limit=10)]

        server.handler = lambda conn, request: conn.send(
            response(301, "", {"location": request.path[len("/old") :]})
            if request.path.startswith("/old/")
            else response(
                200,
                gzip.compress(json.dumps({"data": [assessment()["data"]], "total": 1}).encode()),
                {"content-type": "application/json", "content-encoding": "gzip"},
            )
        )
        assert asyncio.run(alist()) == ["asm_1"]
