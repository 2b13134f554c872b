"""The ingest HTTP app (aiohttp): VoipNow notifications and JSON batches in, CallEvents on Kafka out.

    GET|POST /ingest/{tenant}/{type}   the nine parameters as query or form fields (VoipNow's format)
    POST     /ingest/{tenant}/events   a JSON list of CallEvents
    GET      /healthz /readyz /metrics

202 is answered only after Kafka acknowledged every record of the request (acks=all), so nothing
acknowledged is lost; 503 with Retry-After when Kafka does not acknowledge within ingest_send_timeout_s, and at
once while Kafka's metadata lacks the call-events topic, or as soon as it does for a request waiting (gate.py).
/readyz answers 503 while Kafka cannot be reached or lacks the call-events topic (gate.py), so traffic goes to
pods that can write.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from producers.errors import IngestRejected, InvalidEvent, ProducerUnavailable
from producers.ids import new_event_id
from producers.ingest import forms, metrics
from producers.ingest.auth import CredentialRequestInvalid, TenantAuth, challenge, credential
from producers.ingest.gate import KafkaGate
from producers.ingest.voipnow import event_from_json, event_from_notification, parameter_text
from producers.sdk import Failed, to_record
from schemas import strict_json
from schemas.events import CallEvent
from schemas.extensions import organization_code
from schemas.hints import topic_missing
from schemas.ops import ops_app
from schemas.repeats import repeated
from schemas.settings import Settings

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_MULTIPART_TYPE = "multipart/form-data"
_FORM_TYPES = ("application/x-www-form-urlencoded", _MULTIPART_TYPE)
BATCH = "events"  # /ingest/{tenant}/events: the batch route, beside the notification route /ingest/{tenant}/{type}
_JSON_TYPE = "application/json"  # request.content_type: lower case, without parameters such as charset
UNREADABLE = (ValueError, UnicodeDecodeError, HttpProcessingError, LookupError, RuntimeError)
"""What a body that cannot be read raises: text not in the charset it declares (ValueError), a malformed multipart
part (HTTP parser errors), a part in an unknown charset (LookupError) or Content-Transfer-Encoding (RuntimeError)."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class IngestContext:
    """Per-process resources, opened at start-up and closed at shutdown."""

    settings: Settings
    auth: TenantAuth
    gate: KafkaGate
    clock: Callable[[], datetime] = field(default=_utc_now)


def error_response(error: IngestRejected, *, retry_after_s: int) -> web.Response:
    headers = {"Retry-After": str(retry_after_s)} if error.status == 503 else {}
    if authenticate := challenge(error):
        headers["WWW-Authenticate"] = authenticate
    body = {"error": {"code": error.code, "message": error.message}}
    return web.json_response(body, status=error.status, headers=headers)


def _http_code(status: int) -> str:
    return {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(status, "http_error")


def error_middleware(retry_after_s: int) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        route = request.match_info.route.name or "other"
        try:
            response = await handler(request)
        except IngestRejected as error:
            response = error_response(error, retry_after_s=retry_after_s)
        except web.HTTPException as error:
            if error.status < 400:
                raise
            rejected = IngestRejected(error.status, _http_code(error.status), error.reason)
            response = error_response(rejected, retry_after_s=retry_after_s)
            if "Allow" in error.headers:  # a 405 says which methods the route takes (RFC 9110 15.5.6)
                response.headers["Allow"] = error.headers["Allow"]
        except Exception:  # a defect: logged with its traceback, answered (and counted) in the error shape
            log.exception("ingest %s %s failed", request.method, request.path)
            rejected = IngestRejected(500, "internal_error", "the endpoint failed unexpectedly; its log says why")
            response = error_response(rejected, retry_after_s=retry_after_s)
        metrics.REQUESTS.labels(route, str(response.status)).inc()
        metrics.DURATION.labels(route).observe(time.perf_counter() - started)
        return response

    return middleware


async def read_fields(request: web.Request, *, max_body_bytes: int) -> dict[str, str]:
    """Query fields, overlaid with form or JSON-object body fields (POST); each at most once in either."""
    fields = _once(forms.query_fields(request), "the query string")
    if not request.body_exists:
        return fields
    body = await _body_fields(request, max_body_bytes=max_body_bytes)
    if "key" in body:  # not read as a credential there: beside the one that was, it is a second method
        raise CredentialRequestInvalid("invalid_request", "send the ingest key as ?key= in the URL (or the token "
                                       "in the Authorization header), not in the body")
    return fields | body


async def _body_fields(request: web.Request, *, max_body_bytes: int) -> dict[str, str]:
    content_type = request.content_type
    try:
        if content_type in _FORM_TYPES:
            if content_type != _MULTIPART_TYPE:
                return _once(await forms.urlencoded_fields(request), "the form")
            form, files = await forms.multipart_fields(request, max_size=max_body_bytes)
            if files:
                raise IngestRejected(400, "body_invalid", f"{', '.join(sorted(set(files)))}: send each parameter "
                                     "as a form field, not a file")
            return _once(((f.name, f.value) for f in form), "the form")
        if content_type == _JSON_TYPE:
            return _json_fields(await request.read())
    except UNREADABLE as error:
        raise IngestRejected(400, "body_invalid", f"the body cannot be read: {_reason(error)}") from None
    raise _unsupported(f"the parameters as a form or JSON object, not {content_type}")


def _reason(error: Exception) -> str:
    """The error in one line: aiohttp's parser errors are `400, message:` and the reason on a line of its own."""
    if isinstance(error, HttpProcessingError):
        return " ".join(error.message.split()) or type(error).__name__
    return str(error)


def _once(items: Iterable[tuple[str, str]], where: str) -> dict[str, str]:
    """The fields of `items`; 400 parameter_repeated when one comes twice (which copy to keep is no one's guess)."""
    pairs = list(items)
    if names := repeated(pairs):
        raise IngestRejected(400, "parameter_repeated", f"{', '.join(names)} sent more than once in {where}: send "
                             "each parameter once")
    return dict(pairs)


async def read_batch(request: web.Request) -> bytes:
    """The body of a batch: JSON, as the notification route takes it (any charset parameter), else 415."""
    if request.body_exists and request.content_type != _JSON_TYPE:
        raise _unsupported(f"the events as a JSON list (Content-Type: {_JSON_TYPE}), not {request.content_type}")
    return await request.read()


def _unsupported(what: str) -> IngestRejected:
    return IngestRejected(415, "unsupported_media_type", f"send {what}")


def _json_body(body: bytes) -> Any:
    try:
        return strict_json.loads(body)
    except strict_json.RepeatedName as error:
        raise IngestRejected(400, "invalid_json", f"the body names {error.name!r} twice in one object: send each "
                             "field once") from None
    except strict_json.NotANumber as error:
        raise IngestRejected(400, "invalid_json", f"the body is not JSON: {error} is not a JSON number") from None
    except (ValueError, RecursionError) as error:  # RecursionError: nested deeper than the parser goes
        raise IngestRejected(400, "invalid_json", f"the body is not JSON: {error}") from None


def _json_fields(body: bytes) -> dict[str, str]:
    data = _json_body(body)
    try:
        if not isinstance(data, dict):
            raise ValueError("not an object")
        return {str(k): parameter_text(v) for k, v in data.items()}
    except ValueError:
        raise IngestRejected(400, "body_invalid", "the body must be a JSON object of parameter values: text, "
                             "numbers or null") from None


def parse_batch(body: bytes, tenant: str, *, now: datetime, max_batch: int) -> list[CallEvent]:
    items = _json_body(body)
    if isinstance(items, dict) and isinstance(items.get("events"), list):
        items = items["events"]
    if not isinstance(items, list) or not items:
        raise IngestRejected(400, "body_invalid", "the body must be a non-empty JSON list of CallEvents")
    if len(items) > max_batch:
        raise IngestRejected(413, "batch_too_large", f"{len(items)} events; at most {max_batch} per request")
    events = []
    for index, item in enumerate(items):
        try:
            events.append(event_from_json(tenant, item, now=now, new_id=new_event_id))
        except IngestRejected as error:
            raise IngestRejected(error.status, error.code, f"events[{index}]: {error.message}") from None
    return events


def tenant_code(text: str) -> str:
    """The organization code as stored (`3` → `0003`); 404 unless it is 1-4 digits."""
    try:
        return organization_code(text)
    except ValueError:
        message = f"tenant {text!r} is not an organization code such as 0003"
        raise IngestRejected(404, "tenant_invalid", message) from None


class IngestHandlers:
    def __init__(self, *, ctx: IngestContext) -> None:
        self.ctx = ctx

    async def notification(self, request: web.Request) -> web.Response:
        if request.match_info["type"] == BATCH:  # the batch route's path, with a method it does not take
            raise web.HTTPMethodNotAllowed(request.method, ["POST"])
        tenant = await self._authorize(request)
        fields = await read_fields(request, max_body_bytes=self.ctx.settings.ingest_max_body_bytes)
        fields.pop("key", None)
        event = event_from_notification(
            tenant, request.match_info["type"], fields, now=self.ctx.clock(), new_id=new_event_id
        )
        return await self._send([event])

    async def batch(self, request: web.Request) -> web.Response:
        tenant = await self._authorize(request)
        body = await read_batch(request)
        events = parse_batch(body, tenant, now=self.ctx.clock(), max_batch=self.ctx.settings.ingest_max_batch)
        return await self._send(events)

    async def _authorize(self, request: web.Request) -> str:
        tenant = tenant_code(request.match_info["tenant"])
        if len(request.headers.getall("Authorization", [])) > 1:  # which one counts is no one's guess: refuse
            raise IngestRejected(401, "unauthorized", "send one Authorization header, not several")
        if len(keys := request.query.getall("key", [])) > 1:
            raise CredentialRequestInvalid("parameter_repeated", "key sent more than once in the query string: "
                                           "send it once")
        token = credential(request.headers.get("Authorization"), keys[0] if keys else None)
        try:
            await self.ctx.auth.check(token, tenant, now=self.ctx.clock().timestamp())
        except IngestRejected as error:
            metrics.AUTH.labels(error.code).inc()
            raise
        metrics.AUTH.labels("granted").inc()
        return tenant

    async def _send(self, events: list[CallEvent]) -> web.Response:
        for event in events:
            try:
                to_record(event, max_bytes=self.ctx.settings.max_event_bytes)
            except InvalidEvent as error:
                raise IngestRejected(413, error.code, error.detail) from None
        await self._send_acknowledged(events)
        metrics.EVENTS.labels("accepted").inc(len(events))
        return web.json_response({"accepted": len(events), "event_ids": [e.event_id for e in events]}, status=202)

    async def _send_acknowledged(self, events: list[CallEvent]) -> None:
        timeout_s = self.ctx.settings.ingest_send_timeout_s
        try:
            producer = await self.ctx.gate.writable_producer()
            outcomes = await self.ctx.gate.acknowledged(producer.send_many(events), timeout_s=timeout_s)
        except (ProducerUnavailable, TimeoutError) as error:
            self.ctx.gate.sent(acknowledged=False)
            metrics.EVENTS.labels("unavailable").inc(len(events))
            reason = str(error) or f"Kafka did not acknowledge within {timeout_s:g} s"
            if isinstance(error, TimeoutError) and not producer.topic_known():  # the topic went while waiting
                reason = topic_missing(producer.topic, producer.bootstrap)
            raise IngestRejected(503, "kafka_unavailable", f"{reason}; retry later") from None
        failed = [outcome for outcome in outcomes if isinstance(outcome, Failed)]
        self.ctx.gate.sent(acknowledged=not failed)
        if failed:
            metrics.EVENTS.labels("unavailable").inc(len(failed))
            raise IngestRejected(
                503, "kafka_unavailable", f"{len(failed)} of {len(events)} events were not acknowledged: "
                f"{failed[0].error}; retry the request (events keep their event_id)",
            )


def create_app(ctx: IngestContext) -> web.Application:
    settings = ctx.settings
    app = web.Application(
        client_max_size=settings.ingest_max_body_bytes, middlewares=[error_middleware(settings.ingest_retry_after_s)]
    )
    handlers = IngestHandlers(ctx=ctx)
    app.router.add_resource(f"/ingest/{{tenant}}/{BATCH}", name="batch").add_route("POST", handlers.batch)
    notification = app.router.add_resource("/ingest/{tenant}/{type}", name="notification")
    notification.add_route("GET", handlers.notification)
    notification.add_route("POST", handlers.notification)

    async def ready() -> bool:
        return await ctx.gate.ready()

    for resource in ops_app(ready=ready).router.resources():
        ops = app.router.add_resource(resource.canonical, name=resource.canonical.strip("/"))
        for route in resource:
            if route.method != "HEAD":
                ops.add_route(route.method, route.handler)
    return app
