"""DeliveryJobs for the delivery tests, produced straight onto `deliveries` (as the processor would)."""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import UTC, datetime

from schemas.codec import encode
from schemas.jobs import DeliveryJob, job_id_for
from schemas.settings import Settings
from tests.kafka import produce

PARAMS = {
    "CallID": "1732701600.42", "CallerIDNum": "+61299990000", "CallerIDName": "ACME Pty & Sons",
    "CalledDID": "+61280001234", "CalledExtension": "0003*210", "CallStatus": "CALLING", "CallFlow": "IN",
    "CallerExtension": "", "CalledNumber": "+61280001234",
}


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def make_job(url: str, *, method: str = "POST", extension: str = "0003*210", request_id: str = "r1",
             secrets_: tuple[str, ...] = (), sequence: int = 1, event_id: str | None = None) -> DeliveryJob:
    event_id = event_id or str(uuid.uuid4())
    now = datetime.now(UTC)
    return DeliveryJob(
        job_id=job_id_for(event_id, request_id), event_id=event_id, event_type="dial-in",
        tenant=extension.split("*")[0], extension=extension, request_id=request_id, method=method, url=url,
        params=PARAMS, signing_secrets=secrets_, sequence=sequence, occurred_at=now, processed_at=now,
    )


async def produce_jobs(settings: Settings, jobs: list[DeliveryJob]) -> None:
    await produce(settings, settings.topics.deliveries, [(job.extension, encode(job)) for job in jobs])
