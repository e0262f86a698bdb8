"""ModelRedHook: one Airflow connection gives authenticated, retrying, typed access to ModelRed.

Sync calls use one ``requests.Session`` per hook; async calls (for triggers) use a shared aiohttp
session held for the hook's life (``async with hook:`` or ``await hook.aclose()``). Both build their
requests from ``api.endpoints`` and parse with ``api.parsing``. ``requests`` and ``aiohttp`` are
imported only when a call runs, so importing this module at DAG parse time is cheap.

Every failure is a :class:`~modelred_provider.api.errors.ModelRedError`; none carries the API key.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from airflow.sdk import BaseHook

from modelred_provider.api import endpoints, parsing
from modelred_provider.api.errors import (
    ModelRedAuthenticationError,
    ModelRedConfigurationError,
    ModelRedConnectError,
    ModelRedError,
    ModelRedForbiddenError,
    ModelRedNotAllowedForApiKeyError,
    ModelRedNotFoundError,
    ModelRedPlanLimitError,
    ModelRedResponseError,
    ModelRedTimeoutError,
    ModelRedTLSError,
    ModelRedTransportError,
)
from modelred_provider.api.models import (
    ApiGeneration,
    Assessment,
    AssessmentStatus,
    Model,
    ProbeIndex,
    ProbePack,
)
from modelred_provider.api.retry import RetryPolicy, is_ambiguous, is_safe_to_resend
from modelred_provider.hooks.connection import ConnectionSettings, amask_key, settings_from_connection

if TYPE_CHECKING:
    from modelred_provider.hooks._transport_async import AsyncTransport
    from modelred_provider.hooks._transport_sync import SyncTransport

RES = ApiGeneration.RESOURCES
_ASYNC_TRANSPORT = "modelred_provider.hooks._transport_async"
#: Where an assessment carries its report (see ``api.parsing.parse_assessment``).
_REPORT_FIELDS = ("report", "detailedReport", "detailed_report")
_Item = TypeVar("_Item", Model, ProbePack, Assessment)
#: Guard against a server whose pagination never ends.
MAX_PAGES = 1000


class ModelRedHook(BaseHook):
    """Talk to the ModelRed API through an Airflow connection of type ``modelred``.

    :param modelred_conn_id: the connection: API key in the password, Base URL in the host,
        extras ``organization_id``, ``timeout``, ``max_retries``, ``retry_backoff``, ``retry_max_wait``,
        ``retry_max_seconds``, ``verify_ssl``, ``ca_bundle``, ``dashboard_url``.
    """

    conn_name_attr = "modelred_conn_id"
    default_conn_name = "modelred_default"
    conn_type = "modelred"
    hook_name = "ModelRed"
    #: Items per page of the paginated lists (models, v2 assessments, probe packs); capped by the API.
    page_size = 50

    def __init__(self, modelred_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.modelred_conn_id = modelred_conn_id
        self._settings: ConnectionSettings | None = None
        self._sync: SyncTransport | None = None
        self._async: AsyncTransport | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(modelred_conn_id={self.modelred_conn_id!r})"

    # ------------------------------------------------------------------ settings and transports

    @property
    def settings(self) -> ConnectionSettings:
        """The validated connection settings (read once; sync: do not use on an event loop)."""
        if self._settings is None:
            self._settings = settings_from_connection(self.get_connection(self.modelred_conn_id))
        return self._settings

    async def asettings(self) -> ConnectionSettings:
        """The settings, read with ``BaseHook.aget_connection`` (safe on the triggerer's loop)."""
        if self._settings is None:
            conn = await self.aget_connection(self.modelred_conn_id)
            if isinstance(conn.password, str) and conn.password.strip():
                await amask_key(conn.password.strip())
            self._settings = settings_from_connection(conn, mask=False)
        return self._settings

    @property
    def _transport(self) -> SyncTransport:
        if self._sync is None:
            from modelred_provider.hooks._transport_sync import SyncTransport

            self._sync = SyncTransport(self.settings, self.log)
        return self._sync

    async def _atransport(self) -> AsyncTransport:
        if self._async is None:
            module = sys.modules.get(_ASYNC_TRANSPORT)
            if module is None:
                # aiohttp takes ~0.1-0.8 s to import: never on the triggerer's event loop.
                module = await asyncio.to_thread(importlib.import_module, _ASYNC_TRANSPORT)
            self._async = module.AsyncTransport(await self.asettings(), self.log)
        return self._async

    def get_conn(self) -> Any:
        """The hook's ``requests.Session`` (keep-alive; auth headers are added per request)."""
        return self._transport.session

    def close(self) -> None:
        """Close the sync session (the async one is closed by :meth:`aclose`)."""
        if self._sync is not None:
            self._sync.close()
            self._sync = None

    def __enter__(self) -> ModelRedHook:
        """``with ModelRedHook() as hook:`` closes the sync session on the way out."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def aclose(self) -> None:
        """Release the shared aiohttp session (the last hook using it closes it)."""
        if self._async is not None:
            transport, self._async = self._async, None
            await transport.aclose()

    async def __aenter__(self) -> ModelRedHook:
        transport = await self._atransport()
        transport.session  # noqa: B018 - take the shared session now, for the hook's whole life
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _with_url(self, assessment: Assessment, settings: ConnectionSettings | None = None) -> Assessment:
        return dataclasses.replace(assessment, url=self._url(settings or self.settings, assessment.id))

    @staticmethod
    def _url(settings: ConnectionSettings, assessment_id: str) -> str:
        return f"{settings.dashboard}/assessments/{quote(str(assessment_id), safe='')}"

    def assessment_url(self, assessment_id: str) -> str:
        """The assessment's page in the ModelRed dashboard (``dashboard_url`` extra, default the origin)."""
        return self._url(self.settings, assessment_id)

    # ------------------------------------------------------------------ models and probes

    def list_models(
        self, *, search: str | None = None, provider: str | None = None, status: str = "both"
    ) -> list[Model]:
        """Every model the key sees (all pages)."""
        return self._all_pages(
            lambda page: endpoints.list_models(
                page, page_size=self.page_size, search=search, provider=provider, status=status
            ),
            "models",
            parsing.parse_model,
        )

    def get_model(self, identifier: str) -> Model:
        """A model by database id or slug; on 404 falls back to the list and matches ``modelId``."""
        spec = endpoints.get_model(identifier)
        try:
            payload = self._transport.call(spec)
        except ModelRedNotFoundError:
            wanted = str(identifier).strip()
            for model in self.list_models(search=wanted):
                if wanted in (model.model_id, model.id):
                    return model
            for model in self.list_models():
                if wanted in (model.model_id, model.id):
                    return model
            raise
        return parsing.parse_model(parsing.unwrap_object(payload, "a model", spec.operation), spec.operation)

    def list_probes(
        self, category: str | None = None, severity: str | None = None, tier: str | None = None
    ) -> ProbeIndex:
        """The probe catalogue of the resources API (probe keys are what ``test_types`` takes), every
        page; named like the other ``list_*`` calls. The :class:`ProbeIndex` iterates over its probes."""
        return self.get_probes(category, severity, tier)

    def get_probes(
        self, category: str | None = None, severity: str | None = None, tier: str | None = None
    ) -> ProbeIndex:
        """The probe catalogue of the resources API (probe keys are what ``test_types`` takes).

        The documented name since the first release (ARCHITECTURE.md); :meth:`list_probes` is the same call.
        """
        spec = endpoints.list_probes(category, severity, tier)
        payload = self._transport.call(spec)
        index = parsing.parse_probe_index(payload, spec.operation)
        pages = parsing.total_pages(payload)
        for page in range(2, min(pages, MAX_PAGES) + 1):
            spec = endpoints.list_probes(category, severity, tier, page=page)
            more = parsing.parse_probe_index(self._transport.call(spec), spec.operation)
            known = {probe.key for probe in index.probes}
            fresh = tuple(probe for probe in more.probes if probe.key not in known)
            if not fresh:  # an empty page, or a server ignoring `page`
                break
            index = dataclasses.replace(index, probes=index.probes + fresh)
        return index

    def list_probe_packs(
        self,
        *,
        category: str | None = None,
        search: str | None = None,
        is_public: bool | None = None,
        imported: bool = False,
    ) -> list[ProbePack]:
        """v2 probe packs: the ones you own, or (``imported=True``) the ones you imported. All pages."""
        return self._all_pages(
            lambda page: endpoints.list_probe_packs(
                page,
                imported=imported,
                category=category,
                search=search,
                is_public=is_public,
                page_size=self.page_size,
            ),
            "probe packs",
            parsing.parse_probe_pack,
        )

    def _all_pages(
        self,
        build: Callable[[int], endpoints.RequestSpec],
        what: str,
        parse: Callable[[dict[str, Any], str], _Item],
        *,
        single_page: bool = False,
        enough: int | None = None,
    ) -> list[_Item]:
        """Follow ``page`` until ``totalPages`` (or an empty page, or ``enough`` items).

        A page that only repeats items already seen ends the walk: a server ignoring ``page`` would
        otherwise be read up to ``MAX_PAGES`` times.
        """
        found: list[_Item] = []
        seen: set[str] = set()
        for page in range(1, MAX_PAGES + 1):
            spec = build(page)
            payload = self._transport.call(spec)
            parsed = [
                parse(item, spec.operation) for item in parsing.unwrap_list(payload, what, spec.operation)
            ]
            fresh = [item for item in parsed if item.id not in seen]
            if parsed and not fresh:
                self.log.warning(
                    "ModelRed %s: page %d repeats earlier items; stopping there", spec.operation, page
                )
                break
            seen.update(item.id for item in fresh)
            found.extend(fresh)
            if single_page or not parsed or page >= parsing.total_pages(payload):
                break
            if enough is not None and len(found) >= enough:
                break
        return found

    # ------------------------------------------------------------------ assessments

    def create_assessment(
        self,
        model: str,
        test_types: Sequence[str] | None = None,
        probe_pack_ids: Sequence[str] | None = None,
        priority: str = "normal",
        *,
        on_intent: Callable[[dict[str, Any]], None] | None = None,
    ) -> Assessment:
        """Launch an assessment: ``test_types`` (probe keys) -> resources API, ``probe_pack_ids`` -> v2.

        Never leaves two assessments for one call: the POST is resent only when the server cannot
        have processed it (connection refused, 429, 503 with Retry-After); after an ambiguous failure
        (timeout after sending, 502, 504, unreadable answer) it looks for the assessment the attempt
        may have created before sending again (see ``hooks/_create.py``).

        ``on_intent(intent)`` is called after the listing and before every POST (the first and each
        resend) with the launch intent, a plain JSON dict without secrets (model, probe set, priority,
        API generation, a token of this call, its start time, when this POST is sent and when it is
        answered or given up on, the ids listed before it). Keep it where a later process can read it:
        :meth:`find_launched` then finds what this call created even if this process died before
        learning it. If ``on_intent`` raises, no POST is sent and the error propagates.
        """
        import uuid
        from datetime import timedelta

        from modelred_provider.hooks._create import LOOKUP_LIMIT, CreateAttempts

        spec = endpoints.create_assessment(
            model, test_types=test_types, probe_pack_ids=probe_pack_ids, priority=priority
        )
        state = CreateAttempts(spec, datetime.now(timezone.utc), {str(model).strip()})
        token = uuid.uuid4().hex
        generation = spec.api_generation
        try:
            recent = self.list_assessments(limit=LOOKUP_LIMIT, api_generation=generation)
            state.known_ids = frozenset(a.id for a in recent)
        except ModelRedError as err:  # not fatal: the lookup then relies on creation times
            self.log.info("ModelRed create assessment: could not list recent assessments first (%s)", err)

        def attempt() -> Assessment:
            if state.ambiguous:
                if len(state.model_refs) == 1:
                    state.model_refs |= self._model_refs(str(model).strip())
                recent = self.list_assessments(limit=LOOKUP_LIMIT, api_generation=generation)
                found = state.find(recent)
                if found is not None:
                    self.log.warning(
                        "ModelRed create assessment: the earlier attempt did create assessment %s; "
                        "adopting it instead of sending the request again",
                        found.id,
                    )
                    return self._with_url(found)
                self.log.warning(
                    "ModelRed create assessment: no assessment from the earlier attempt among the %d most "
                    "recent; sending the request again",
                    len(recent),
                )
            if on_intent is not None:
                sent_at = datetime.now(timezone.utc)
                answer_by = sent_at + timedelta(seconds=self.settings.timeout)
                on_intent(state.intent(token, sent_at, answer_by))
            try:
                payload = self._transport.send_once(spec)
                obj = parsing.unwrap_object(payload, "an assessment", spec.operation)
                created = parsing.parse_assessment(obj, generation, spec.operation)
            except ModelRedError as err:
                if is_ambiguous(err):
                    state.ambiguous = True
                    self.log.warning(
                        "ModelRed create assessment: %s; the server may have processed it, "
                        "will look for the assessment before sending again",
                        err,
                    )
                elif is_safe_to_resend(err):  # an earlier ambiguous attempt still gets looked for
                    self.log.info("ModelRed create assessment: %s; the server did not process it", err)
                raise
            if not created.test_types and not created.probe_pack_ids:
                body = spec.json or {}
                created = dataclasses.replace(
                    created,
                    test_types=tuple(body.get("testTypes", ())),
                    probe_pack_ids=tuple(body.get("probePackIds", ())),
                )
            return self._with_url(created)

        def should_retry(error: BaseException) -> bool:
            return is_safe_to_resend(error) or is_ambiguous(error)

        return self._transport.call_with(spec.operation, attempt, should_retry)

    def _model_refs(self, model: str) -> set[str]:
        """Every name a model may be listed under (slug and database id), best effort."""
        try:
            found = self.get_model(model)
        except ModelRedError as err:
            self.log.info(
                "ModelRed: could not resolve model %r for the lookup (%s)", model, type(err).__name__
            )
            return {model}
        return {ref for ref in (model, found.id, found.model_id) if ref}

    def find_launched(self, intent: dict[str, Any], *, settle: bool = True) -> Assessment | None:
        """The assessment that the launch recorded as ``intent`` (see ``create_assessment(on_intent=)``)
        created, or None when it created none.

        The rule of ``create_assessment``'s own lookup (``hooks/_create.py``): same model, same probe
        set, created after the launch started (less the clock skew), not among the ids listed before
        its first POST; the newest such. The listing widens (up to ``LOOKUP_MAX``) until it reaches back
        before the launch. With ``settle`` (default), when nothing is found while the launch's last POST
        may still be in flight (its request timeout, plus clock skew, has not passed), it waits that
        out (at most one timeout) and looks once more, so a POST still being processed is not
        mistaken for one that never was. Never guesses: an unreadable intent raises
        ``ModelRedConfigurationError`` and a failed listing its ``ModelRedError``.
        """
        from datetime import timedelta

        from modelred_provider.hooks._create import (
            CLOCK_SKEW,
            LOOKUP_LIMIT,
            LOOKUP_MAX,
            CreateAttempts,
            parse_time,
        )

        try:
            state = CreateAttempts.from_intent(intent)
            in_flight_until = parse_time(intent.get("in_flight_until") or intent["started_at"])
        except (KeyError, ValueError) as err:
            raise ModelRedConfigurationError(f"cannot look for an earlier launch: {err}") from None
        model = next(iter(state.model_refs))
        state.model_refs |= self._model_refs(model)
        generation = state.spec.api_generation
        token = str(intent.get("token", ""))[:12]

        def look() -> Assessment | None:
            limit = LOOKUP_LIMIT
            while True:
                recent = self.list_assessments(limit=limit, api_generation=generation)
                found = state.find(recent)
                if found is not None or limit >= LOOKUP_MAX or state.covers(recent, limit):
                    break
                limit = min(LOOKUP_MAX, limit * 5)
            if found is not None:
                self.log.warning(
                    "ModelRed: the earlier launch %s of model %s did create assessment %s; adopting it",
                    token,
                    model,
                    found.id,
                )
            else:
                self.log.info(
                    "ModelRed: no assessment from the earlier launch %s of model %s among the %d most recent",
                    token,
                    model,
                    len(recent),
                )
            return found

        found = look()
        if found is None and settle:
            cap = self.settings.timeout + CLOCK_SKEW.total_seconds()
            wait = (in_flight_until + CLOCK_SKEW - datetime.now(timezone.utc)) / timedelta(seconds=1)
            if wait > 0:
                wait = min(wait, cap)
                self.log.info(
                    "ModelRed: the earlier launch's last request may still be in flight; "
                    "looking again in %.1f s before launching anew",
                    wait,
                )
                time.sleep(wait)
                found = look()
        return found

    def get_assessment(
        self, assessment_id: str, api_generation: ApiGeneration = RES, *, deadline: float | None = None
    ) -> Assessment:
        """The assessment now (status, progress, report once COMPLETED), with its dashboard URL.

        ``deadline`` (epoch seconds): no request or retry of this call runs past it.
        """
        spec = endpoints.get_assessment(assessment_id, api_generation)
        payload = self._transport.call(spec, deadline=deadline)
        obj = parsing.unwrap_object(payload, "an assessment", spec.operation)
        return self._with_url(parsing.parse_assessment(obj, spec.api_generation, spec.operation))

    def list_assessments(
        self,
        *,
        status: AssessmentStatus | str | None = None,
        limit: int | None = None,
        api_generation: ApiGeneration = RES,
    ) -> list[Assessment]:
        """Recent assessments, newest first (v2: all pages up to ``limit``; status filtered too)."""
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise ModelRedConfigurationError(f"limit must be a positive whole number or None, got {limit!r}")
        wanted = None if status is None else AssessmentStatus(endpoints.status_filter(status))
        generation = ApiGeneration(api_generation)
        listed = self._all_pages(
            lambda page: endpoints.list_assessments(
                generation, page=page, limit=limit, status=status, page_size=self.page_size
            ),
            "assessments",
            lambda item, operation: parsing.parse_assessment(item, generation, operation),
            single_page=generation is RES,  # the resources API takes only `limit`
            enough=limit,
        )
        found = [self._with_url(a) for a in listed if wanted is None or a.status is wanted]
        return found[:limit] if limit is not None else found

    def cancel_assessment(self, assessment_id: str, api_generation: ApiGeneration = RES) -> None:
        """Ask ModelRed to cancel; with an API key this is refused by design.

        The resources API has no cancel endpoint, so no request is made and
        :class:`ModelRedNotAllowedForApiKeyError` is raised at once. On v2 the ``PATCH`` answer 403
        becomes the same error. Its message says to cancel in the ModelRed UI. Cleanup paths should
        catch :class:`ModelRedError`.
        """
        self._cancel_checked(assessment_id, api_generation, self.settings)
        spec = endpoints.cancel_assessment(assessment_id)
        try:
            self._transport.call(spec)
        except ModelRedForbiddenError as err:
            raise self._cancel_refused(assessment_id, self.settings, err) from None

    async def acancel_assessment(self, assessment_id: str, api_generation: ApiGeneration = RES) -> None:
        """Async :meth:`cancel_assessment` (for a trigger's ``on_kill``)."""
        settings = await self.asettings()
        self._cancel_checked(assessment_id, api_generation, settings)
        spec = endpoints.cancel_assessment(assessment_id)
        try:
            await (await self._atransport()).call(spec)
        except ModelRedForbiddenError as err:
            raise self._cancel_refused(assessment_id, settings, err) from None

    def _cancel_checked(
        self, assessment_id: str, api_generation: ApiGeneration, settings: ConnectionSettings
    ) -> None:
        endpoints.get_assessment(assessment_id)  # validates the id
        if ApiGeneration(api_generation) is RES:
            raise ModelRedNotAllowedForApiKeyError(
                f"the resources API has no cancel endpoint; cancel assessment {assessment_id} in the "
                f"ModelRed UI: {self._url(settings, assessment_id)}",
                operation="cancel assessment",
            )

    def _cancel_refused(
        self, assessment_id: str, settings: ConnectionSettings, err: ModelRedForbiddenError
    ) -> ModelRedNotAllowedForApiKeyError:
        return ModelRedNotAllowedForApiKeyError(
            f"{err.message}. API keys cannot cancel assessments; cancel assessment {assessment_id} in the "
            f"ModelRed UI: {self._url(settings, assessment_id)}",
            operation="cancel assessment",
            status=err.status,
            code=err.code,
        )

    async def aget_assessment(
        self,
        assessment_id: str,
        api_generation: ApiGeneration = RES,
        *,
        deadline: float | None = None,
        report: bool = True,
    ) -> Assessment:
        """Async :meth:`get_assessment` (same request, same parser, same retry rules, same deadline).

        ``report=False``: a large answer's report is not read (a waiting trigger needs the status
        only; skipping it keeps the triggerer's loop and memory free of a finished report).
        """
        spec = endpoints.get_assessment(assessment_id, api_generation)
        if not report:
            spec = dataclasses.replace(spec, skip_fields=frozenset(_REPORT_FIELDS))
        transport = await self._atransport()
        payload = await transport.call(spec, deadline=deadline)
        obj = parsing.unwrap_object(payload, "an assessment", spec.operation)
        if any(obj.get(name) for name in _REPORT_FIELDS):
            # A finished assessment's report can hold tens of thousands of probes: building them is
            # Python code, which a worker thread interleaves with the loop (the GIL switches every
            # few ms), where doing it here would hold the triggerer's loop for the whole report.
            assessment = await asyncio.to_thread(
                parsing.parse_assessment, obj, spec.api_generation, spec.operation
            )
        else:
            assessment = parsing.parse_assessment(obj, spec.api_generation, spec.operation)
        return self._with_url(assessment, transport.settings)

    def wait_for_assessment(
        self,
        assessment_id: str,
        poll_interval: float = 10,
        timeout: float = 3600,
        api_generation: ApiGeneration = RES,
        on_progress: Callable[[Assessment], None] | None = None,
        *,
        max_consecutive_errors: int = 10,
    ) -> Assessment:
        """Poll until the assessment is terminal and return it (COMPLETED, FAILED or CANCELLED: no raise).

        ``on_progress(assessment)`` is called on the first poll and whenever status or progress
        changes; its exceptions are logged and ignored. Transient errors (``error.retryable``) are
        logged and polled through, up to ``max_consecutive_errors`` in a row; permanent ones raise.
        Raises :class:`ModelRedTimeoutError` when ``timeout`` seconds pass first.
        """
        if poll_interval <= 0 or timeout <= 0:
            raise ModelRedConfigurationError(
                f"poll_interval and timeout must be positive, got {poll_interval!r} and {timeout!r}"
            )
        deadline = time.monotonic() + timeout
        last: Assessment | None = None
        seen: tuple[Any, ...] | None = None
        errors = 0
        while True:
            try:
                last = self.get_assessment(assessment_id, api_generation)
                errors = 0
            except ModelRedError as err:
                errors += 1
                if not err.retryable or errors >= max_consecutive_errors:
                    raise
                self.log.warning("ModelRed: polling %s failed (%s); will poll again", assessment_id, err)
            if last is not None and (last.status, last.progress) != seen:
                seen = (last.status, last.progress)
                self.log.info(
                    "ModelRed assessment %s: %s, %d%%", assessment_id, last.status.value, last.progress
                )
                if on_progress is not None:
                    try:
                        on_progress(last)
                    except Exception:
                        self.log.exception("ModelRed: the on_progress callback failed; ignoring it")
            if last is not None and last.status.is_terminal:
                return last
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                state = f"{last.status.value}, {last.progress}%" if last else "never read"
                raise ModelRedTimeoutError(
                    f"assessment {assessment_id} did not finish within {timeout:g} seconds "
                    f"(last seen: {state})",
                    operation="wait for assessment",
                )
            time.sleep(min(poll_interval, remaining))

    # ------------------------------------------------------------------ connection test

    def test_connection(self) -> tuple[bool, str]:
        """One cheap authenticated call (the first model); a message that tells what is wrong."""
        try:
            settings = self.settings
        except ModelRedConfigurationError as err:
            return False, f"Invalid ModelRed connection: {err.message}"
        except Exception as err:  # the connection itself could not be read
            return (
                False,
                f"Cannot read the ModelRed connection {self.modelred_conn_id!r}: {type(err).__name__}",
            )
        from modelred_provider.hooks._transport_sync import SyncTransport

        quick = dataclasses.replace(settings, retry=RetryPolicy(max_retries=0))
        spec = endpoints.list_models(1, page_size=1)
        try:
            transport = SyncTransport(quick, self.log)
        except Exception as err:  # never raise from a connection test
            return False, f"ModelRed connection test failed: {type(err).__name__}"
        try:
            payload = transport.call(spec)
            parsing.unwrap_list(payload, "models", spec.operation)
        except ModelRedError as err:
            return False, _diagnose(err, settings.origin)
        except Exception as err:
            return False, f"ModelRed connection test failed: {type(err).__name__}"
        finally:
            transport.close()
        total = payload.get("total")
        seen = f"; {total} model(s) visible" if isinstance(total, int) and not isinstance(total, bool) else ""
        return True, f"Connected to ModelRed at {settings.origin}: the API key is valid{seen}."


def _diagnose(err: ModelRedError, origin: str) -> str:
    """A connection-test message for an error (built from our words and the server's, never the key)."""
    if isinstance(err, ModelRedAuthenticationError):
        return f"ModelRed rejected the API key (HTTP 401: {err.message}). Check the API Key field."
    if isinstance(err, ModelRedPlanLimitError):
        return f"The API key is valid but the plan does not allow this (HTTP 403: {err.message})."
    if isinstance(err, ModelRedForbiddenError):
        return f"The API key is not allowed to list models (HTTP 403: {err.message})."
    if isinstance(err, ModelRedTLSError):
        return f"TLS verification failed for {origin}: {err.message}"
    if isinstance(err, ModelRedConnectError):
        return f"Cannot reach {origin} (host unreachable): {err.message}"
    if isinstance(err, ModelRedTransportError):
        return f"No usable answer from {origin}: {err.message}"
    if isinstance(err, ModelRedNotFoundError | ModelRedResponseError):
        return (
            f"Wrong Base URL? {origin} does not answer like the ModelRed API ({err}). "
            "The Base URL is the service origin, e.g. https://app.modelred.ai"
        )
    return f"ModelRed connection test failed: {err}"
