"""The web UI's session: the bearer token in a cookie, CSRF tokens derived from it, one-shot flash messages.

The session cookie holds the access token issued at sign-in (the same token the REST API takes), so
signing out revokes it like any other token. CSRF tokens are HMACs keyed by a cookie the page cannot
read (HttpOnly), so another site can neither read nor forge them; before sign-in a random pre-session
cookie plays that role. Flash messages travel in a short-lived cookie signed (not encrypted) with the session
token, and are deleted by the page that shows them. A new signing secret, shown once, never goes into that cookie:
it waits in PostgreSQL (control.ui.flash_secrets) and the cookie carries only a random reference to it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import asdict, dataclass

from fastapi import Response

SESSION_COOKIE = "__Host-callapi-session"
SIGNIN_COOKIE = "__Host-callapi-signin"
FLASH_COOKIE = "__Host-callapi-flash"
RETURN_COOKIE = "__Host-callapi-return"  # the page to go back to after signing in again, when a session ended
FLASH_MAX_AGE_S = 120
SIGNIN_MAX_AGE_S = 3600
CSRF_FIELD = "csrf"


@dataclass(frozen=True)
class Flash:
    """What the next page shows once: a message, and a signing secret when a change generated one."""

    message: str
    extension: str | None = None  # shown only on this extension's page
    request_id: str | None = None
    secret: str | None = None  # shown on the page; never encoded into the cookie
    warning: bool = False  # something still to do (shown in the warning style), not a plain success
    secret_ref: str | None = None  # what the cookie carries instead of the secret (see control.ui.flash_secrets)


def _mac(key: str, purpose: str) -> str:
    return hmac.new(key.encode(), purpose.encode(), hashlib.sha256).hexdigest()


def csrf_token(key: str) -> str:
    """The CSRF token of the forms of a session (key: the session token, or the pre-session nonce)."""
    return _mac(key, "callapi-ui-csrf")


def csrf_ok(key: str | None, sent: object) -> bool:
    return bool(key) and isinstance(sent, str) and hmac.compare_digest(csrf_token(str(key)), sent)


def new_signin_nonce() -> str:
    return secrets.token_urlsafe(32)


def encode_flash(flash: Flash, key: str) -> str:
    if flash.secret is not None:  # the cookie is readable in the browser's cookie store
        raise ValueError("a signing secret does not go into the flash cookie: keep it with "
                         "control.ui.flash_secrets.keep and put its reference in secret_ref")
    body = base64.urlsafe_b64encode(json.dumps(asdict(flash)).encode()).decode().rstrip("=")  # a cookie-safe value
    return f"{body}.{_mac(key, 'callapi-ui-flash:' + body)}"


def decode_flash(value: str | None, key: str) -> Flash | None:
    """The flash in `value` if it was signed with `key`; None when absent, tampered with or malformed."""
    if not value or "." not in value:
        return None
    body, mac = value.rsplit(".", 1)
    if not hmac.compare_digest(_mac(key, "callapi-ui-flash:" + body), mac):
        return None
    try:
        fields = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        return Flash(**fields) if isinstance(fields, dict) else None
    except (ValueError, TypeError, binascii.Error):
        return None


def return_path(value: str | None) -> str | None:
    """`value` if it is a path of a page of this UI: a return cookie can send a signed-in browser nowhere else."""
    return value if value and re.fullmatch(r"/ui/[A-Za-z0-9/*%._~-]*", value) else None


def set_cookie(response: Response, name: str, value: str, *, max_age_s: int) -> None:
    """Every UI cookie: Secure, HttpOnly, SameSite=Lax, host-only on path / (the `__Host-` prefix demands it)."""
    response.set_cookie(name, value, max_age=max_age_s, path="/", secure=True, httponly=True, samesite="lax")


def clear_cookie(response: Response, name: str) -> None:
    response.delete_cookie(name, path="/", secure=True, httponly=True, samesite="lax")
