"""ModelRedHook: one Airflow connection gives authenticated, retrying, typed access to ModelRed.

Sync calls use one ``requests.Session`` per hook; async calls (for triggers) use a shared aiohttp
session held for the hook's life (``async with hook:`` or ``await hook.aclose()``). Both build their
requests from ``api.endpoints`` and parse with ``api.parsing``. ``requests`` and ``aiohttp`` are
imported only when a call runs, so importing this module at DAG parse time is cheap.

Every failure is a :class:`~modelred_provider.api.errors.ModelRedError`; none carries the API key.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import sys
import time
import uuid
import weakref
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from airflow.sdk import BaseHook

from modelred_provider.api import endpoints, parsing
from modelred_provider.api.errors import (
    ModelRedAPIError,
    ModelRedAuthenticationError,
    ModelRedConfigurationError,
    ModelRedError,
    ModelRedForbiddenError,
    ModelRedNotAllowedForApiKeyError,
    ModelRedNotFoundError,
    ModelRedResponseError,
    ModelRedTransportError,
    ModelRedWaitTimeoutError,
)
from modelred_provider.api.models import Assessment, AssessmentStatus, Model, ProbeIndex, ProbePack
from modelred_provider.api.retry import RetryPolicy, is_ambiguous, is_safe_to_resend
from modelred_provider.api.vocabulary import ApiGeneration
from modelred_provider.hooks._create import CLOCK_SKEW, LOOKUP_LIMIT, LOOKUP_MAX, CreateAttempts, parse_time
from modelred_provider.hooks.connection import ConnectionSettings, amask_key, settings_from_connection
from modelred_provider.waiting.parameters import DEFAULT_RETRY_BUDGET, is_finite_number

if TYPE_CHECKING:
    from modelred_provider.hooks._transport_async import AsyncTransport
    from modelred_provider.hooks._transport_sync import SyncTransport
    from modelred_provider.waiting.policy import PollPolicy

__all__ = ["ModelRedHook"]

_ASYNC_TRANSPORT = "modelred_provider.hooks._transport_async"
#: Where an assessment carries its report (see ``api.parsing.parse_assessment``).
_REPORT_FIELDS = ("report", "detailedReport", "detailed_report")
_Item = TypeVar("_Item", Model, ProbePack, Assessment)
#: How long hooks of one connection in one event loop share a read of it (``asettings``).
_SETTINGS_TTL = 30.0
#: event loop -> connection id -> (the read, loop time it started)
_SETTINGS_READS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[str, tuple[asyncio.Future[ConnectionSettings], float]]
] = weakref.WeakKeyDictionary()
#: Guard against a server whose pagination never ends.
_MAX_PAGES = 1000
#: Listed items parsed between two hand-backs to the event loop (``alist_assessments``).
_PARSE_SLICE = 200


def _reported(spec: endpoints.RequestSpec, report: bool) -> endpoints.RequestSpec:
    """``report=False`` leaves the reports of an answer unread (a waiting poll needs none)."""
    return spec if report else dataclasses.replace(spec, skip_fields=frozenset(_REPORT_FIELDS))


def _never(error: BaseException) -> bool:
    return False


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
        """Read the settings with ``BaseHook.aget_connection`` (safe on the triggerer's loop).

        Hooks of one connection in one event loop share one read for :data:`_SETTINGS_TTL` seconds: ten
        thousand triggers taken up at once ask the triggerer for the connection once, not each.
        """
        if self._settings is None:
            loop = asyncio.get_running_loop()
            reads = _SETTINGS_READS.setdefault(loop, {})
            entry = reads.get(self.modelred_conn_id)
            if entry is None or loop.time() - entry[1] > _SETTINGS_TTL:
                entry = reads[self.modelred_conn_id] = (
                    asyncio.ensure_future(self._aread_settings()),
                    loop.time(),
                )
            try:
                self._settings = await asyncio.shield(entry[0])
            except BaseException:
                if reads.get(self.modelred_conn_id) is entry and entry[0].done():
                    del reads[self.modelred_conn_id]  # a failed read is not shared: the next one asks again
                raise
        return self._settings

    async def _aread_settings(self) -> ConnectionSettings:
        conn = await self.aget_connection(self.modelred_conn_id)
        if isinstance(conn.password, str) and conn.password.strip():
            await amask_key(conn.password.strip())
        return settings_from_connection(conn, mask=False)

    @property
    def _transport(self) -> SyncTransport:
        if self._sync is None:
            from modelred_provider.hooks._transport_sync import SyncTransport

            self._sync = SyncTransport(self.settings, self.log)
        return self._sync

    async def _atransport(self) -> AsyncTransport:
        if self._async is None:
            module = sys.modules.get(_ASYNC_TRANSPORT)
            if module is None or getattr(module.__spec__, "_initializing", False):
                # aiohttp takes ~0.1-0.8 s to import: never on the triggerer's event loop. A module
                # another trigger's thread is still importing is half-built: wait for that import
                # (the import lock) in a thread too, never use it as it is.
                module = await asyncio.to_thread(importlib.import_module, _ASYNC_TRANSPORT)
            self._async = module.AsyncTransport(await self.asettings(), self.log)
        return self._async

    def get_conn(self) -> Any:
        """Return the hook's ``requests.Session`` (keep-alive; auth headers are added per request)."""
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
        (await self._atransport()).session  # noqa: B018 - take the shared session now, for the hook's life
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _with_url(self, assessment: Assessment, settings: ConnectionSettings | None = None) -> Assessment:
        return dataclasses.replace(assessment, url=self._url(settings or self.settings, assessment.id))

    @staticmethod
    def _url(settings: ConnectionSettings, assessment_id: str) -> str:
        return f"{settings.dashboard}/assessments/{quote(str(assessment_id), safe='')}"

    def assessment_url(self, assessment_id: str) -> str:
        """Return the assessment's page in the dashboard (``dashboard_url`` extra, default the origin)."""
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
        """Get a model by database id or slug; on 404, fall back to the list and match ``modelId``."""
        spec = endpoints.get_model(identifier)
        try:
            payload = self._transport.call(spec)
        except ModelRedNotFoundError:
            wanted = str(identifier).strip()
            for search in (wanted, None):  # the listing searched for it, then the whole list
                for model in self.list_models(search=search):
                    if wanted in (model.model_id, model.id):
                        return model
            raise
        return _model(payload, spec)

    def create_model(
        self,
        model_id: str,
        *,
        provider: str,
        display_name: str,
        provider_config: dict[str, Any],
        description: str | None = None,
    ) -> tuple[Model, bool]:
        """Register a model (``POST /api/models``), or reuse the one with this ``model_id``.

        Returns ``(model, created)``. A 409 ("Model already exists") reads the existing model and
        reuses it only when it matches: the same provider and display name, and the same model name
        when ``provider_config`` names one (``model``/``modelName``); else it raises
        ``ModelRedConfigurationError`` naming the differences. ModelRed never answers the
        ``providerConfig`` back, so its credentials cannot be compared (nor leak from here): a reused
        model keeps the credentials it was registered with.

        Not resent after an ambiguous failure (a POST is never retried once it may have arrived); a
        retry of the task sends it again and gets the 409, which reuses what the first one created.
        """
        spec = endpoints.create_model(
            model_id,
            provider=provider,
            display_name=display_name,
            provider_config=provider_config,
            description=description,
        )
        try:
            payload = self._transport.call(spec)
        except ModelRedError as error:
            if not (isinstance(error, ModelRedAPIError) and error.status == 409):
                raise
            existing = self.get_model(model_id)
            differences = _registration_differences(existing, spec.json or {})
            if differences:
                raise ModelRedConfigurationError(
                    f"Model {model_id!r} already exists in ModelRed and differs from this registration "
                    f"({'; '.join(differences)}): choose another model id, or delete that model first"
                ) from None
            return existing, False
        return _model(payload, spec), True

    def delete_model(self, identifier: str) -> bool:
        """Delete a model by database id or slug (resolved first); False when already gone (404)."""
        spec = endpoints.delete_model(identifier)  # checks the identifier before any request
        try:
            spec = endpoints.delete_model(self.get_model(identifier).id)  # the contract deletes by id
            payload = self._transport.call(spec)
        except ModelRedNotFoundError:
            return False
        if isinstance(payload, dict) and payload.get("success") is False:  # a missing `success` means true
            raise ModelRedResponseError(
                f"ModelRed did not delete model {identifier!r}: it answered success=false",
                operation=spec.operation,
            )
        return True

    def list_probes(
        self, category: str | None = None, severity: str | None = None, tier: str | None = None
    ) -> ProbeIndex:
        """List the probe catalogue of the resources API, every page (as :meth:`get_probes`).

        Named like the other ``list_*`` calls. The :class:`ProbeIndex` iterates over its probes.
        """
        return self.get_probes(category, severity, tier)

    def get_probes(
        self, category: str | None = None, severity: str | None = None, tier: str | None = None
    ) -> ProbeIndex:
        """Get the probe catalogue of the resources API (probe keys are what ``test_types`` takes).

        The documented name since the first release (ARCHITECTURE.md); :meth:`list_probes` is the same call.
        """
        spec = endpoints.list_probes(category, severity, tier)
        payload = self._transport.call(spec)
        index = parsing.parse_probe_index(payload, spec.operation)
        for page in range(2, min(parsing.total_pages(payload), _MAX_PAGES) + 1):
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
        otherwise be read up to ``_MAX_PAGES`` times.
        """
        found: list[_Item] = []
        seen: set[str] = set()
        for page in range(1, _MAX_PAGES + 1):
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
        spec = endpoints.create_assessment(
            model, test_types=test_types, probe_pack_ids=probe_pack_ids, priority=priority
        )
        state = CreateAttempts(spec, datetime.now(UTC), {str(model).strip()})
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
                sent_at = datetime.now(UTC)  # answered or given up on within one request timeout
                on_intent(state.intent(token, sent_at, sent_at + timedelta(seconds=self.settings.timeout)))
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

        return self._transport.call_with(
            spec.operation, attempt, lambda error: is_safe_to_resend(error) or is_ambiguous(error)
        )

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
        """Find what the launch recorded as ``intent`` (``create_assessment(on_intent=)``) created, or None.

        The rule of ``create_assessment``'s own lookup (``hooks/_create.py``): same model, same probe
        set, created after the launch started (less the clock skew), not among the ids listed before
        its first POST; the newest such. The listing widens (up to ``LOOKUP_MAX``) until it reaches back
        before the launch. With ``settle`` (default), when nothing is found while the launch's last POST
        may still be in flight (its request timeout, plus clock skew, has not passed), it waits that
        out (at most one timeout) and looks once more, so a POST still being processed is not
        mistaken for one that never was. Never guesses: an unreadable intent raises
        ``ModelRedConfigurationError`` and a failed listing its ``ModelRedError``.
        """
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
            wait = min(
                (in_flight_until + CLOCK_SKEW - datetime.now(UTC)) / timedelta(seconds=1),
                self.settings.timeout + CLOCK_SKEW.total_seconds(),  # at most one request timeout
            )
            if wait > 0:
                self.log.info(
                    "ModelRed: the earlier launch's last request may still be in flight; "
                    "looking again in %.1f s before launching anew",
                    wait,
                )
                time.sleep(wait)
                found = look()
        return found

    def get_assessment(
        self,
        assessment_id: str,
        api_generation: ApiGeneration = ApiGeneration.RESOURCES,
        *,
        deadline: float | None = None,
    ) -> Assessment:
        """Get the assessment now (status, progress, report once COMPLETED), with its dashboard URL.

        ``deadline`` (epoch seconds): no request or retry of this call runs past it.
        """
        spec = endpoints.get_assessment(assessment_id, api_generation)
        build, _ = self._assessment_from(self._transport.call(spec, deadline=deadline), spec, self.settings)
        return build()

    def list_assessments(
        self,
        *,
        status: AssessmentStatus | str | None = None,
        limit: int | None = None,
        api_generation: ApiGeneration = ApiGeneration.RESOURCES,
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
            single_page=generation is ApiGeneration.RESOURCES,  # the resources API takes only `limit`
            enough=limit,
        )
        return [self._with_url(a) for a in listed if wanted is None or a.status is wanted][:limit]

    def cancel_assessment(
        self, assessment_id: str, api_generation: ApiGeneration = ApiGeneration.RESOURCES
    ) -> None:
        """Ask ModelRed to cancel; with an API key this is refused by design.

        The resources API has no cancel endpoint, so no request is made and
        :class:`ModelRedNotAllowedForApiKeyError` is raised at once. On v2 the ``PATCH`` answer 403
        becomes the same error. Its message says to cancel in the ModelRed UI. Cleanup paths should
        catch :class:`ModelRedError`.
        """
        with self._cancelling(assessment_id, api_generation, self.settings) as spec:
            self._transport.call(spec)

    async def acancel_assessment(
        self, assessment_id: str, api_generation: ApiGeneration = ApiGeneration.RESOURCES
    ) -> None:
        """Async :meth:`cancel_assessment` (for a trigger's ``on_kill``)."""
        with self._cancelling(assessment_id, api_generation, await self.asettings()) as spec:
            await (await self._atransport()).call(spec)

    @contextlib.contextmanager
    def _cancelling(
        self, assessment_id: str, api_generation: ApiGeneration, settings: ConnectionSettings
    ) -> Iterator[endpoints.RequestSpec]:
        """Yield the cancel request of either side; both refusals say to use the UI.

        The resources API refuses before any request; a 403 of the ``PATCH`` becomes
        :class:`ModelRedNotAllowedForApiKeyError`.
        """
        endpoints.get_assessment(assessment_id)  # validates the id
        advice = f"cancel assessment {assessment_id} in the ModelRed UI: {self._url(settings, assessment_id)}"
        if ApiGeneration(api_generation) is ApiGeneration.RESOURCES:
            raise ModelRedNotAllowedForApiKeyError(
                f"the resources API has no cancel endpoint; {advice}", operation="cancel assessment"
            )
        try:
            yield endpoints.cancel_assessment(assessment_id)
        except ModelRedForbiddenError as err:
            raise ModelRedNotAllowedForApiKeyError(
                f"{err.message}. API keys cannot cancel assessments; {advice}",
                operation="cancel assessment",
                status=err.status,
                code=err.code,
            ) from None

    async def aget_assessment(
        self,
        assessment_id: str,
        api_generation: ApiGeneration = ApiGeneration.RESOURCES,
        *,
        deadline: float | None = None,
        report: bool = True,
    ) -> Assessment:
        """Async :meth:`get_assessment` (same request, same parser, same retry rules, same deadline).

        ``report=False``: a large answer's report is not read (a waiting trigger needs the status
        only; skipping it keeps the triggerer's loop and memory free of a finished report).
        """
        spec = _reported(endpoints.get_assessment(assessment_id, api_generation), report)
        transport = await self._atransport()
        payload = await transport.call(spec, deadline=deadline)
        build, heavy = self._assessment_from(payload, spec, transport.settings)
        # A finished assessment's report can hold tens of thousands of probes: building them is
        # Python code, which a worker thread interleaves with the loop (the GIL switches every
        # few ms), where doing it here would hold the triggerer's loop for the whole report.
        return await asyncio.to_thread(build) if heavy else build()

    def _assessment_from(
        self, payload: Any, spec: endpoints.RequestSpec, settings: ConnectionSettings
    ) -> tuple[Callable[[], Assessment], bool]:
        """Read a ``get_assessment`` answer (sync and async), the one way.

        Returns a builder of the assessment (with its dashboard URL), and whether it carries a report
        (heavy to build).
        """
        obj = parsing.unwrap_object(payload, "an assessment", spec.operation)

        def build() -> Assessment:
            parsed = parsing.parse_assessment(obj, spec.api_generation, spec.operation)
            return self._with_url(parsed, settings)

        return build, any(obj.get(name) for name in _REPORT_FIELDS)

    async def alist_assessments(
        self,
        *,
        limit: int,
        api_generation: ApiGeneration = ApiGeneration.RESOURCES,
        report: bool = True,
        retry: bool = True,
        until_listed: Collection[str] = (),
    ) -> list[Assessment]:
        """Async: the newest assessments, newest first, every status.

        Resources: one request with ``limit``; v2: whole pages of ``endpoints.V2_PAGE_SIZE`` until
        ``limit`` items, the last page, or every id in ``until_listed`` was listed.

        ``report=False``: the items' reports are not read (what a waiting trigger needs); ``retry=False``:
        each request is sent once and its failure raised at once (the shared stream's rule: its
        triggers fall back to their own GETs instead). Items are parsed in slices of
        :data:`_PARSE_SLICE`, handing the event loop back between them.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ModelRedConfigurationError(f"limit must be a positive whole number, got {limit!r}")
        generation = ApiGeneration(api_generation)
        transport = await self._atransport()
        found: dict[str, Assessment] = {}
        for page in range(1, _MAX_PAGES + 1):
            spec = endpoints.list_assessments(
                generation, page=page, limit=limit, page_size=endpoints.V2_PAGE_SIZE
            )
            before = len(found)
            payload, _ = await self._aread_page(transport, spec, found, report=report, retry=retry)
            if (
                generation is ApiGeneration.RESOURCES  # the resources API takes only `limit`
                or len(found) == before  # an empty page, or one repeating earlier items
                or len(found) >= limit
                or page >= parsing.total_pages(payload)
                or (until_listed and found.keys() >= set(until_listed))
            ):
                break
        return list(found.values())

    async def _aread_page(
        self,
        transport: AsyncTransport,
        spec: endpoints.RequestSpec,
        found: dict[str, Assessment],
        *,
        report: bool,
        retry: bool,
        gate: asyncio.Semaphore | None = None,
    ) -> tuple[Any, int]:
        """Read one page of listed assessments into ``found`` (the first of an id wins).

        Returns the answer and how many items it listed. Parsed :data:`_PARSE_SLICE` at a time, the
        loop handed back between slices: a long answer must not hold it in one go. ``gate`` bounds
        the requests in flight (not the parsing).
        """
        spec = _reported(spec, report)
        async with gate or contextlib.nullcontext():
            payload = await transport.call(spec, should_retry=None if retry else _never)
        items = parsing.unwrap_list(payload, "assessments", spec.operation)
        for start in range(0, len(items), _PARSE_SLICE):
            if start:
                await asyncio.sleep(0)
            for item in items[start : start + _PARSE_SLICE]:
                parsed = parsing.parse_assessment(item, spec.api_generation, spec.operation)
                found.setdefault(parsed.id, self._with_url(parsed, transport.settings))
        return payload, len(items)

    async def alist_unfinished_assessments(
        self, *, report: bool = False, retry: bool = False, concurrency: int = 4
    ) -> list[Assessment]:
        """Async, v2 only: every QUEUED and RUNNING assessment (``status=`` filter, every page).

        What a group of waiting triggers needs, however many finished ones the organisation has; pages of
        ``endpoints.V2_PAGE_SIZE``. Page 1 of each status first, then the other pages, ``concurrency`` at a
        time. An assessment that changes status while the pages are read may be missed or seen twice (pages
        shift): a caller reads a waiting one it did not see with its own GET.

        ``report``/``retry`` as in :meth:`alist_assessments`; parsed in slices of :data:`_PARSE_SLICE`.
        """
        transport = await self._atransport()
        gate = asyncio.Semaphore(max(1, int(concurrency)))
        found: dict[str, Assessment] = {}

        async def page(status: AssessmentStatus, number: int) -> int:
            spec = endpoints.list_assessments(
                ApiGeneration.V2, page=number, status=status, page_size=endpoints.V2_PAGE_SIZE
            )
            payload, listed = await self._aread_page(
                transport, spec, found, report=report, retry=retry, gate=gate
            )
            return min(parsing.total_pages(payload), _MAX_PAGES) if listed else 1

        unfinished = (AssessmentStatus.QUEUED, AssessmentStatus.RUNNING)
        totals = await asyncio.gather(*(page(status, 1) for status in unfinished))
        rest = [(s, n) for s, total in zip(unfinished, totals, strict=True) for n in range(2, total + 1)]
        await asyncio.gather(*(page(status, number) for status, number in rest))
        return list(found.values())

    async def aget_assessment_within(
        self,
        assessment_id: str,
        api_generation: ApiGeneration = ApiGeneration.RESOURCES,
        *,
        max_bytes: int,
        deadline: float | None = None,
        retry: bool = True,
    ) -> tuple[Assessment, dict[str, Any] | None]:
        """Async :meth:`aget_assessment`, bounded: the assessment, and the server's object if small.

        The object (report included, every string scrubbed of the key) when the answer is at most
        ``max_bytes``. A larger answer is not read past ``max_bytes``: it is read again without its
        report (``report=False``) and the object is None.

        What a trigger polls with, so that its final event can carry the assessment and the task
        resumes without a GET; a larger report is left to the GET at resume. ``retry`` as in
        :meth:`alist_assessments` (True: the same rules as :meth:`aget_assessment`).
        """
        from modelred_provider.api.redact import scrub_any

        spec = dataclasses.replace(
            endpoints.get_assessment(assessment_id, api_generation), max_bytes=max_bytes
        )
        transport = await self._atransport()
        try:
            payload = await transport.call(spec, should_retry=None if retry else _never, deadline=deadline)
        except ModelRedResponseError as error:
            if not error.too_large:
                raise
            # larger than an event may carry: read it without the report
            return await self.aget_assessment(
                assessment_id, api_generation, deadline=deadline, report=False
            ), None
        obj = dict(scrub_any(parsing.unwrap_object(payload, "an assessment", spec.operation)))
        parsed = parsing.parse_assessment(obj, spec.api_generation, spec.operation)
        return self._with_url(parsed, transport.settings), obj

    def assessment_from_object(
        self, obj: dict[str, Any], api_generation: ApiGeneration = ApiGeneration.RESOURCES
    ) -> Assessment:
        """Read an object :meth:`aget_assessment_within` returned, as :meth:`get_assessment` does."""
        parsed = parsing.parse_assessment(obj, ApiGeneration(api_generation), "get assessment")
        return self._with_url(parsed, self.settings)

    def wait_for_assessment(
        self,
        assessment_id: str,
        poll_interval: float = 10,
        timeout: float | None = 3600,
        api_generation: ApiGeneration = ApiGeneration.RESOURCES,
        on_progress: Callable[[Assessment], None] | None = None,
        *,
        deadline: float | None = None,
        retry_budget: int = DEFAULT_RETRY_BUDGET,
    ) -> Assessment:
        """Poll until the assessment is terminal and return it (COMPLETED, FAILED or CANCELLED: no raise).

        The wait follows :class:`~modelred_provider.waiting.policy.PollPolicy`, as the trigger does: polls
        ``poll_interval`` apart, transient errors (``error.retryable``) polled through with backoff
        (honouring ``Retry-After``, capped by the connection's ``poll_max_wait``) while at most
        ``retry_budget`` happen in a row (one more raises the last of them); a permanent error raises
        at once. ``on_progress(assessment)`` is called on the first poll and whenever status or
        progress changes; its exceptions are logged and ignored.

        The wait ends at ``timeout`` seconds from now or at ``deadline`` (epoch seconds), whichever
        comes first (both None: no limit); then it raises :class:`ModelRedWaitTimeoutError`, which is
        not a transport error and not retryable.
        """
        from modelred_provider.waiting.outcome import TerminationReason, parse_reason
        from modelred_provider.waiting.policy import PollPolicy

        for name, value in (("poll_interval", poll_interval), ("timeout", timeout)):
            if value is not None and not (is_finite_number(value) and value > 0):
                raise ModelRedConfigurationError(f"{name} must be positive and finite, got {value!r}")
        ends = [t for t in (deadline, None if timeout is None else time.time() + timeout) if t is not None]
        try:
            policy = PollPolicy(
                assessment_id,
                poll_interval=poll_interval,
                deadline=min(ends) if ends else None,
                retry_budget=retry_budget,
                on_progress=on_progress,
            )
        except ValueError as err:
            raise ModelRedConfigurationError(str(err)) from None
        event = self.wait_until_done(policy, api_generation)
        reason = parse_reason(event)
        if reason is TerminationReason.TIMEOUT:
            last = policy.last
            state = f"{last.status.value}, {last.progress}%" if last else "never read"
            by_timeout = timeout is not None and (deadline is None or deadline > min(ends))
            limit = f"within {timeout:g} seconds" if by_timeout else "before its deadline"
            raise ModelRedWaitTimeoutError(
                f"assessment {assessment_id} did not finish {limit} (last seen: {state})",
                assessment_id=assessment_id,
                last_status=policy.last_status,
            )
        if reason is TerminationReason.ERROR or policy.last is None:
            raise policy.last_error or ModelRedError(
                str(event.get("message")), operation="wait for assessment"
            )
        return policy.last

    def wait_until_done(
        self,
        policy: PollPolicy,
        api_generation: ApiGeneration = ApiGeneration.RESOURCES,
        *,
        delay: float = 0.0,
    ) -> dict[str, Any]:
        """Wait in process with the one wait loop: sleep ``delay``, read, let ``policy`` decide.

        The loop is ``waiting.loop.poll_until_done``, the trigger's too; the result is its final event.

        Used by :meth:`wait_for_assessment` and by the operator's in-process wait. Reads go through the
        sync transport in a worker thread, each with ``policy.deadline``; each pause is capped by the
        connection's ``poll_max_wait``. Returns the policy's event (``outcome.make_event``); never raises
        for the assessment's or the API's sake.
        """
        from modelred_provider.waiting.loop import poll_until_done, run_to_completion, threaded

        policy.max_wait = self.settings.poll_max_wait
        generation = ApiGeneration(api_generation)

        def read() -> Assessment:
            return self.get_assessment(policy.assessment_id, generation, deadline=policy.deadline)

        return run_to_completion(
            lambda executor: poll_until_done(policy, threaded(read, executor), self.log, delay=delay)
        )

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
            with contextlib.closing(SyncTransport(quick, self.log)) as transport:
                payload = transport.call(spec)
            parsing.unwrap_list(payload, "models", spec.operation)
        except ModelRedError as err:
            return False, _diagnose(err, settings.origin)
        except Exception as err:  # never raise from a connection test
            return False, f"ModelRed connection test failed: {type(err).__name__}"
        total = payload.get("total")
        seen = f"; {total} model(s) visible" if isinstance(total, int) and not isinstance(total, bool) else ""
        return True, f"Connected to ModelRed at {settings.origin}: the API key is valid{seen}."


def _model(payload: Any, spec: endpoints.RequestSpec) -> Model:
    return parsing.parse_model(parsing.unwrap_object(payload, "a model", spec.operation), spec.operation)


def _registration_differences(existing: Model, body: dict[str, Any]) -> list[str]:
    """Name how an existing model differs from a registration's body (never a providerConfig secret).

    Only the provider, the display name and the config's model name are compared and named.
    """
    config = body.get("providerConfig") or {}
    named = config.get("model") or config.get("modelName")
    compared = [
        ("provider", existing.provider, body.get("provider")),
        ("display name", existing.display_name, body.get("displayName")),
    ] + ([("model name", existing.model_name, named)] if isinstance(named, str) else [])
    return [f"{what} {have!r}, not {wanted!r}" for what, have, wanted in compared if have != wanted]


def _diagnose(err: ModelRedError, origin: str) -> str:
    """Word a connection-test message for an error (our words and the server's, never the key)."""
    if isinstance(err, ModelRedAuthenticationError):
        return f"ModelRed rejected the API key (HTTP 401: {err.message}). Check the API Key field."
    if isinstance(err, ModelRedForbiddenError) and err.plan_limit:
        return f"The API key is valid but the plan does not allow this (HTTP 403: {err.message})."
    if isinstance(err, ModelRedForbiddenError):
        return f"The API key is not allowed to list models (HTTP 403: {err.message})."
    if isinstance(err, ModelRedTransportError) and err.kind == "tls":
        return f"TLS verification failed for {origin}: {err.message}"
    if isinstance(err, ModelRedTransportError) and not err.sent:
        return f"Cannot reach {origin} (host unreachable): {err.message}"
    if isinstance(err, ModelRedTransportError):
        return f"No usable answer from {origin}: {err.message}"
    if isinstance(err, ModelRedNotFoundError | ModelRedResponseError):
        return (
            f"Wrong Base URL? {origin} does not answer like the ModelRed API ({err}). "
            "The Base URL is the service origin, e.g. https://app.modelred.ai"
        )
    return f"ModelRed connection test failed: {err}"
