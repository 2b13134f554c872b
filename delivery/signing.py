"""Standard Webhooks signatures (https://www.standardwebhooks.com), pure.

The signed content is `{webhook-id}.{webhook-timestamp}.{payload}`, HMAC-SHA256 with the secret's bytes
(the base64 text after `whsec_`), sent as `v1,<base64>`. While a secret rotates a request has several
secrets; each gives one signature and the header carries them space-separated, newest first.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

SECRET_PREFIX = "whsec_"


def secret_bytes(secret: str) -> bytes:
    """The key of a `whsec_…` secret; ValueError when it is not base64."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)


def signature(secret: str, *, msg_id: str, timestamp_s: int, payload: bytes) -> str:
    content = f"{msg_id}.{timestamp_s}.".encode() + payload
    digest = hmac.new(secret_bytes(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets: tuple[str, ...], *, msg_id: str, timestamp_s: int, payload: bytes) -> str:
    """The `webhook-signature` value for every secret; empty when there is none."""
    return " ".join(signature(s, msg_id=msg_id, timestamp_s=timestamp_s, payload=payload) for s in secrets)
