"""The processor's jobs keep their ids (`webhook-id`): receivers deduplicate by them across releases."""

from __future__ import annotations

import uuid

from schemas.jobs import _JOB_NAMESPACE, job_id_for


def test_job_ids_are_the_uuid5_of_event_and_request() -> None:
    assert job_id_for("0123456789abcdef0123456789abcdef", "R1a2b3") == "msg_d9df1465e5635321a1e7f82efe34f8d1"
    assert job_id_for("é☃", "r") == "msg_6f3af382c0565a019b7aa1997f261ad9"
    for event_id, request_id in [("", ""), (uuid.uuid4().hex, "r1"), ("\U0001f600" * 40, "x" * 200)]:
        name = f"{event_id}\x00{request_id}"
        assert job_id_for(event_id, request_id) == "msg_" + uuid.uuid5(_JOB_NAMESPACE, name).hex
