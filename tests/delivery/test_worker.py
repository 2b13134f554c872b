"""A real worker subprocess against real Kafka, real PostgreSQL and real HTTP receivers on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from urllib.parse import parse_qsl

import httpx
import psycopg
import pytest
from standardwebhooks.webhooks import Webhook

from schemas.attempts import Outcome
from schemas.settings import Settings
from tests.delivery.helpers import attempts_of, dead_letters, stored_requests
from tests.delivery.jobs import PARAMS, make_job, new_secret, produce_jobs
from tests.delivery.rawhttp import RawServer
from tests.delivery.servers import ResettingServer
from tests.polling import eventually
from tests.processes import Component, settings_env
from tests.receiver import Receiver

HEADERS = ("user-agent", "x-callapi-event", "x-callapi-request-id", "x-callapi-sequence", "webhook-id",
           "webhook-timestamp", "webhook-signature")


@pytest.fixture(scope="module")
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(request_timeout_s=3.0, connect_timeout_s=1.0, circuit_failure_threshold=50)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


OPS_PORT = _free_port()


@pytest.fixture(scope="module", autouse=True)
def worker(settings: Settings) -> Iterator[Component]:
    with Component(settings, "deliver", "--port", str(OPS_PORT), name="delivery-worker") as component:
        yield component
    assert "Traceback" not in component.log(), component.log()


async def test_get_and_post_arrive_with_the_nine_parameters_signed_during_a_rotation(settings: Settings) -> None:
    secrets = (new_secret(), new_secret())
    with Receiver() as raw:
        post = make_job(raw.url + "/post", method="POST", secrets_=secrets, request_id="sigpost", sequence=7)
        get = make_job(raw.url + "/get?token=t%201", method="GET", secrets_=secrets, request_id="sigget")
        await produce_jobs(settings, [post, get])
        requests = {r.method: r for r in raw.wait_for(2)}
    assert dict(parse_qsl(requests["POST"].body.decode(), keep_blank_values=True)) == PARAMS
    assert requests["POST"].headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qsl(requests["GET"].raw_query, keep_blank_values=True) == [("token", "t 1"), *PARAMS.items()]
    for request, job, payload in ((requests["POST"], post, requests["POST"].body),
                                  (requests["GET"], get, requests["GET"].raw_query.encode())):
        assert all(name in request.headers for name in HEADERS)
        assert request.headers["user-agent"].startswith("callapi-events/")
        assert request.headers["x-callapi-event"] == "dial-in"
        assert request.headers["x-callapi-request-id"] == job.request_id
        assert request.headers["webhook-id"] == job.job_id
        assert len(request.headers["webhook-signature"].split(" ")) == 2
        for secret in secrets:  # either secret of the rotation verifies
            Webhook(secret).verify(payload, request.headers, json_parse=False)
    assert requests["POST"].headers["x-callapi-sequence"] == "7"


async def test_unsigned_request_has_no_signature_header(settings: Settings, receiver: Receiver) -> None:
    job = make_job(receiver.url + "/plain", request_id="plain")
    await produce_jobs(settings, [job])
    [request] = receiver.wait_for(1, path="/plain")
    assert "webhook-signature" not in request.headers
    assert request.params == PARAMS


async def test_fails_twice_then_succeeds_with_the_same_webhook_id(settings: Settings, receiver: Receiver) -> None:
    receiver.script("/flaky", statuses=[500, 503], then=204)
    job = make_job(receiver.url + "/flaky", request_id="flaky")
    await produce_jobs(settings, [job])
    requests = receiver.wait_for(3, path="/flaky")
    assert [r.headers["webhook-id"] for r in requests] == [job.job_id] * 3
    attempts = await attempts_of(settings, job.job_id, count=3)
    assert [(a.attempt, a.outcome, a.status_code) for a in attempts] == [
        (1, Outcome.RETRY, 500), (2, Outcome.RETRY, 503), (3, Outcome.DELIVERED, 204)]


async def test_connection_resets_are_retried(settings: Settings) -> None:
    with ResettingServer(resets=2) as server:
        job = make_job(server.url + "/reset", request_id="reset")
        await produce_jobs(settings, [job])
        assert eventually(lambda: server.answered, timeout_s=30) == [job.job_id]
    attempts = await attempts_of(settings, job.job_id, count=3)
    assert [a.outcome for a in attempts] == [Outcome.RETRY, Outcome.RETRY, Outcome.DELIVERED]
    assert attempts[0].error is not None and attempts[0].status_code is None


async def test_a_reply_whose_body_breaks_off_counts_by_its_status(settings: Settings) -> None:
    async with RawServer() as server:  # on this test's event loop, which the awaits below leave free
        ok = make_job(server.url() + "/short-body/200", request_id="cut200")
        busy = make_job(server.url() + "/short-chunked/503", request_id="cut503")
        await produce_jobs(settings, [ok, busy])
        delivered = await attempts_of(settings, ok.job_id, count=1)
        retried = await attempts_of(settings, busy.job_id, count=1)
    assert [(a.outcome, a.status_code, a.error) for a in delivered] == [(Outcome.DELIVERED, 200, None)]
    assert [(a.outcome, a.status_code, a.error) for a in retried[:1]] == [(Outcome.RETRY, 503, None)]


async def test_a_reply_head_that_breaks_off_or_is_not_http_is_logged_as_such(settings: Settings) -> None:
    async with RawServer() as server:
        cut = make_job(server.url() + "/cut-head", request_id="cuthead")
        bad = make_job(server.url() + "/bad-head/status-code", request_id="badhead")
        await produce_jobs(settings, [cut, bad])
        [cut_attempt, *_] = await attempts_of(settings, cut.job_id, count=1)
        [bad_attempt, *_] = await attempts_of(settings, bad.job_id, count=1)
    assert (cut_attempt.outcome, cut_attempt.status_code, cut_attempt.error) == (
        Outcome.RETRY, None, "connection_error")
    assert (bad_attempt.outcome, bad_attempt.status_code, bad_attempt.error) == (Outcome.RETRY, None, "invalid_reply")


async def test_always_failing_goes_to_the_dlq_then_redrive_delivers(settings: Settings, receiver: Receiver) -> None:
    receiver.script("/down", then=500)
    stored_requests(settings.database_url, ["0003*210"], "down", receiver.url + "/down")
    job = make_job(receiver.url + "/down", request_id="down", secrets_=(new_secret(),))
    await produce_jobs(settings, [job])
    letters = await dead_letters(settings, {job.job_id})
    assert letters[job.job_id].last_error == "HTTP 500 (gave up after 3 attempts)"
    assert letters[job.job_id].attempt == 3
    assert len(receiver.received("/down")) == 3  # 1 + the two scheduled retries

    listed = _cli(settings, "dlq", "list", "--request-id", "down", "--json")
    assert [json.loads(line)["job_id"] for line in listed.splitlines()] == [job.job_id]
    shown = _cli(settings, "dlq", "show", job.job_id)
    assert job.signing_secrets[0] not in shown and "redacted" in shown

    assert json.loads(listed)["redriven_at"] is None

    receiver.script("/down", then=204)
    assert "1 job(s) back on deliveries" in _said(_cli(settings, "dlq", "redrive", "--request-id", "down"))
    requests = receiver.wait_for(4, path="/down")
    assert [r.headers["webhook-id"] for r in requests] == [job.job_id] * 4
    attempts = await attempts_of(settings, job.job_id, count=4)
    assert attempts[-1].attempt == 1 and attempts[-1].outcome is Outcome.DELIVERED  # a fresh budget

    assert json.loads(_cli(settings, "dlq", "list", "--request-id", "down", "--json"))["redriven_at"] is not None
    twice = _said(_cli(settings, "dlq", "redrive", "--request-id", "down"))  # already redriven: nothing is sent
    assert "0 job(s) back on deliveries" in twice and "1 redriven before" in twice
    assert "1 job(s) back" in _said(_cli(settings, "dlq", "redrive", "--request-id", "down", "--again"))
    assert len(receiver.wait_for(5, path="/down")) == 5
    assert len(receiver.received("/down")) == 5  # the plain second redrive sent nothing

    no_db = settings.model_copy(update={"database_url": "postgresql://callapi:callapi@127.0.0.1:1/nowhere"})
    listed = subprocess.run([sys.executable, "-m", "callapi_events", "dlq", "list", "--request-id", "down", "--json"],
                            env=settings_env(no_db), capture_output=True, text=True, timeout=60)
    assert json.loads(listed.stdout)["request_id"] == "down"  # the warning goes to stderr: stdout stays JSON
    assert "which letters were redriven is not shown" in _said(listed.stderr)
    refused = subprocess.run([sys.executable, "-m", "callapi_events", "dlq", "redrive", "--request-id", "down"],
                             env=settings_env(no_db), capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "CALLAPI_DATABASE_URL" in _said(refused.stderr)


async def test_a_redrive_sends_to_the_request_as_it_is_now_and_holds_back_those_removed_or_disabled(
    settings: Settings, receiver: Receiver,
) -> None:
    """The operator fixed the URL and rotated the secret after the job died: the redrive sends it there, signed
    with the new secret, same webhook-id; jobs of a disabled or removed request stay on the DLQ, counted."""
    old_secret, rotated = new_secret(), new_secret()
    for path in ("/broken", "/off", "/removed", "/retyped"):
        receiver.script(path, then=404)
    stored_requests(settings.database_url, ["0415*100"], "fixed1", receiver.url + "/broken")
    stored_requests(settings.database_url, ["0416*100"], "off1", receiver.url + "/off")
    stored_requests(settings.database_url, ["0416*100"], "retyped1", receiver.url + "/retyped")
    fixed = make_job(receiver.url + "/broken", request_id="fixed1", extension="0415*100", secrets_=(old_secret,))
    off = make_job(receiver.url + "/off", request_id="off1", extension="0416*100")
    removed = make_job(receiver.url + "/removed", request_id="removed1", extension="0416*100")
    retyped = make_job(receiver.url + "/retyped", request_id="retyped1", extension="0416*100")
    await produce_jobs(settings, [fixed, off, removed, retyped])
    assert len(await dead_letters(settings, {fixed.job_id, off.job_id, removed.job_id, retyped.job_id})) == 4

    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("UPDATE event_requests SET url = %s, method = 'GET' WHERE id = 'fixed1'",
                     (receiver.url + "/fixed",))
        conn.execute("INSERT INTO signing_secrets (extension_id, request_id, secret) SELECT extension_id, id, %s"
                     " FROM event_requests WHERE id = 'fixed1'", (rotated,))
        conn.execute("UPDATE event_requests SET enabled = false WHERE id = 'off1'")
        conn.execute("UPDATE event_requests SET type = 2 WHERE id = 'retyped1'")  # hangups only, now
    went = _said(_cli(settings, "dlq", "redrive", "--request-id", "fixed1"))
    assert "1 job(s) back on deliveries" in went, went
    [request] = receiver.wait_for(1, path="/fixed")
    assert (request.method, request.headers["webhook-id"]) == ("GET", fixed.job_id)
    Webhook(rotated).verify(request.raw_query.encode(), request.headers, json_parse=False)
    assert receiver.received("/broken") == receiver.received("/broken")[:1]  # the old URL is not tried again

    held = _said(_cli(settings, "dlq", "redrive", "--extension", "0416*100"))
    assert "0 job(s) back on deliveries" in held, held
    assert ("3 left on the DLQ: 1 whose request was removed, 1 whose request is disabled, 1 whose request takes "
            "another event type now") in held, held
    listed = [json.loads(line) for line in _cli(settings, "dlq", "list", "--extension", "0416*100", "--json")
              .splitlines()]
    assert [letter["redriven_at"] for letter in listed] == [None] * 3  # a later redrive still takes them

    receiver.script("/off", then=204)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("UPDATE event_requests SET enabled = true WHERE id = 'off1'")
    again = _said(_cli(settings, "dlq", "redrive", "--request-id", "off1"))
    assert "1 job(s) back on deliveries" in again, again
    assert [r.headers["webhook-id"] for r in receiver.wait_for(2, path="/off")] == [off.job_id] * 2


async def test_other_4xx_fails_permanently(settings: Settings, receiver: Receiver) -> None:
    receiver.script("/missing", then=404)
    job = make_job(receiver.url + "/missing", request_id="missing")
    await produce_jobs(settings, [job])
    letters = await dead_letters(settings, {job.job_id})
    assert letters[job.job_id].last_error == "HTTP 404"
    assert len(receiver.received("/missing")) == 1
    assert eventually(lambda: _attempts_counted().get("failed")), _attempts_counted()  # as its DeliveryAttempt says


def _attempts_counted() -> dict[str, float]:
    """callapi_delivery_attempts_total by outcome, from the worker's /metrics."""
    metrics = httpx.get(f"http://127.0.0.1:{OPS_PORT}/metrics").text
    prefix = 'callapi_delivery_attempts_total{outcome="'
    return {line[len(prefix):].split('"')[0]: float(line.split()[-1])
            for line in metrics.splitlines() if line.startswith(prefix)}


def _request_row(settings: Settings, extension: str, request_id: str, url: str, *, enabled: bool = True) -> None:
    """A request of a new organization's extension in PostgreSQL, as the Control API would add it."""
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        provider = conn.execute("INSERT INTO accounts (kind, name) VALUES ('provider', 'p') RETURNING id").fetchone()
        org = conn.execute("INSERT INTO accounts (kind, parent_id, code, name) VALUES ('organization', %s, %s, "
                           "'o') RETURNING id", (provider[0], extension.split("*")[0])).fetchone()  # type: ignore[index]
        ext = conn.execute("INSERT INTO extensions (organization_id, number) VALUES (%s, %s) RETURNING id",
                           (org[0], extension)).fetchone()  # type: ignore[index]
        conn.execute("INSERT INTO event_requests (extension_id, id, type, method, url, enabled)"
                     " VALUES (%s, %s, 0, 'POST', %s, %s)", (ext[0], request_id, url, enabled))  # type: ignore[index]


async def test_410_disables_the_request_in_postgresql(settings: Settings, receiver: Receiver) -> None:
    extension = "0410*100"
    _request_row(settings, extension, "gone1", receiver.url + "/gone")
    receiver.script("/gone", then=410)
    job = make_job(receiver.url + "/gone", request_id="gone1", extension=extension)
    await produce_jobs(settings, [job])

    def disabled() -> tuple[object, ...] | None:
        with psycopg.connect(settings.database_url) as conn:
            row = conn.execute("SELECT enabled, disabled_reason FROM event_requests WHERE id = 'gone1'").fetchone()
            outbox = conn.execute("SELECT count(*) FROM outbox WHERE extension = %s", (extension,)).fetchone()
        return (row, outbox) if row and not row[0] and outbox and outbox[0] else None

    assert eventually(disabled) == ((False, "gone"), (1,))
    attempts = await attempts_of(settings, job.job_id, count=1)
    assert [(a.outcome, a.status_code) for a in attempts] == [(Outcome.DISABLED, 410)]
    assert len(receiver.received("/gone")) == 1
    assert eventually(lambda: _attempts_counted().get("disabled")), _attempts_counted()
    assert set(_attempts_counted()) == {outcome.value for outcome in Outcome}


@pytest.mark.parametrize(("extension", "stored_path", "enabled"), [
    ("0411*100", "/new", True),  # a retry for the URL the request had before an Edit: that job stops, not the request
    ("0412*100", "/gone", False),  # a job made before the user disabled the request: their disable stays theirs
])
async def test_a_410_leaves_a_request_that_moved_away_or_was_disabled_by_hand_as_it_was(
    settings: Settings, receiver: Receiver, extension: str, stored_path: str, enabled: bool,
) -> None:
    request_id = f"keep{extension[:4]}"
    _request_row(settings, extension, request_id, receiver.url + stored_path, enabled=enabled)
    receiver.script("/gone", then=410)
    job = make_job(receiver.url + "/gone", request_id=request_id, extension=extension)
    await produce_jobs(settings, [job])
    attempts = await attempts_of(settings, job.job_id, count=1)
    assert [(a.outcome, a.status_code) for a in attempts] == [(Outcome.DISABLED, 410)]
    with psycopg.connect(settings.database_url) as conn:
        row = conn.execute("SELECT enabled, disabled_reason FROM event_requests WHERE id = %s",
                           (request_id,)).fetchone()
        outbox = conn.execute("SELECT count(*) FROM outbox WHERE extension = %s", (extension,)).fetchone()
    assert (row, outbox) == ((enabled, None), (0,))


async def test_a_410_while_the_request_row_is_locked_stops_the_job_without_disabling(
    settings: Settings, receiver: Receiver,
) -> None:
    """A lock held on the request (an Edit in flight, a stuck session) bounds the disable's wait: the job stops,
    its attempt says the disable was not applied, and the request is left as the lock holder leaves it."""
    extension = "0413*100"
    _request_row(settings, extension, "locked1", receiver.url + "/locked")
    receiver.script("/locked", then=410)
    job = make_job(receiver.url + "/locked", request_id="locked1", extension=extension)
    with psycopg.connect(settings.database_url) as holder:  # one open transaction holding the row
        holder.execute("SELECT 1 FROM event_requests WHERE id = 'locked1' FOR UPDATE")
        await produce_jobs(settings, [job])
        attempts = await attempts_of(settings, job.job_id, count=1)
    assert [(a.outcome, a.status_code, a.error) for a in attempts] == [(Outcome.DISABLED, 410, "disable_timed_out")]
    with psycopg.connect(settings.database_url) as conn:
        row = conn.execute("SELECT enabled, disabled_reason FROM event_requests WHERE id = 'locked1'").fetchone()
        outbox = conn.execute("SELECT count(*) FROM outbox WHERE extension = %s", (extension,)).fetchone()
    assert (row, outbox) == ((True, None), (0,))
    assert eventually(_disables_not_applied) == 1.0


def _disables_not_applied() -> float:
    metrics = httpx.get(f"http://127.0.0.1:{OPS_PORT}/metrics").text
    return next(float(line.split()[-1]) for line in metrics.splitlines()
                if line.startswith("callapi_delivery_disables_not_applied_total "))


async def test_a_hanging_receiver_does_not_hold_up_another(settings: Settings, receiver: Receiver) -> None:
    receiver.script("/hang", delay_s=settings.request_timeout_s + 5)
    with Receiver() as fast:
        hanging = [make_job(receiver.url + "/hang", request_id="hang", extension="0005*1") for _ in range(10)]
        quick = [make_job(fast.url + "/fast", request_id="fast", extension="0005*1") for _ in range(10)]
        # one extension, so one partition: the hanging jobs come first in the same partition
        await produce_jobs(settings, [job for pair in zip(hanging, quick, strict=True) for job in pair])
        assert len(fast.wait_for(10, path="/fast")) == 10
        receiver.wait_for(1, path="/hang")
        hang_attempts = await attempts_of(settings, hanging[0].job_id, count=1, timeout_s=0)
    assert hang_attempts == []  # every fast job was delivered while the first hanging request still waited
    later = await attempts_of(settings, hanging[0].job_id, count=1)
    assert later[0].error == "timeout"


def _end_to_end_sum_s() -> float | None:
    """The histogram's sum, or None while the worker's ops endpoint is not up yet."""
    try:
        metrics = httpx.get(f"http://127.0.0.1:{OPS_PORT}/metrics").text
    except httpx.ConnectError:
        return None
    return float(next(line.split()[-1] for line in metrics.splitlines()
                      if line.startswith("callapi_delivery_end_to_end_seconds_sum")))


async def test_end_to_end_latency_leaves_out_a_job_sent_again_days_later(settings: Settings,
                                                                          receiver: Receiver) -> None:
    eventually(lambda: _end_to_end_sum_s() is not None)  # the worker's ops endpoint is up
    before = _end_to_end_sum_s()
    assert before is not None
    live = make_job(receiver.url + "/e2e", request_id="e2e-live")
    days_ago = live.occurred_at - timedelta(days=10)
    resent = make_job(receiver.url + "/e2e", request_id="e2e-replay").model_copy(
        update={"occurred_at": days_ago, "replay": True})
    await produce_jobs(settings, [resent, live])
    receiver.wait_for(2, path="/e2e")
    await attempts_of(settings, live.job_id, count=1)
    added = eventually(lambda: (_end_to_end_sum_s() or before) - before)
    assert 0 < added < timedelta(days=1).total_seconds()  # the live job counted, not the one from 10 days ago


def _said(output: str) -> str:
    """A command's message as one line (the console wraps long lines)."""
    return " ".join(output.split())


def _cli(settings: Settings, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "callapi_events", *args], env=settings_env(settings),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_ops_endpoint_serves_health_readiness_and_the_delivery_metrics() -> None:
    base = f"http://127.0.0.1:{OPS_PORT}"
    assert httpx.get(base + "/healthz").json() == {"status": "ok"}
    assert httpx.get(base + "/readyz").status_code == 200
    metrics = httpx.get(base + "/metrics").text
    for name in ("callapi_delivery_attempts_total{outcome=\"delivered\"}", "callapi_delivery_attempt_duration_seconds",
                 "callapi_delivery_end_to_end_seconds", "callapi_delivery_retries_total{delay=\"1s\"}",
                 "callapi_delivery_dlq_total", "callapi_delivery_open_circuits", "callapi_delivery_in_flight"):
        assert name in metrics, name
