"""HTML responses of the web UI: one autoescaping Jinja2 environment and the security headers of every page."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi.responses import HTMLResponse

from schemas.events import EventType

PREFIX = "/ui"
HERE = Path(__file__).parent
STYLESHEET = HERE / "static" / "ui.css"
SECURITY_HEADERS = {
    # No scripts at all: the UI works without JavaScript, so none is allowed to run.
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self';"
    " frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # pages may carry a secret shown once; never keep them
}


DISABLED_REASONS = {"gone": "The endpoint answered 410 Gone, so delivery stopped. Fix it, then enable."}


def disabled_text(reason: str) -> str:
    """Why a request was disabled by the system rather than by its owner."""
    return DISABLED_REASONS.get(reason, reason)


def type_label(event_type: EventType) -> str:
    """VoipNow's spelling: Dial-In, Dial-Out, Hangup, Answer-In, Answer-Out."""
    return "-".join(part.capitalize() for part in event_type.slug.split("-"))


def extension_url(number: str) -> str:
    return f"{PREFIX}/extensions/{quote(number, safe='*')}"


def request_url(number: str, event_type: EventType, request_id: str) -> str:
    return f"{extension_url(number)}/requests/{event_type.slug}/{quote(request_id, safe='')}"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every template is HTML
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(prefix=PREFIX, extension_url=extension_url, request_url=request_url,
                       type_label=type_label, disabled_text=disabled_text, event_types=list(EventType))
    env.filters["when"] = lambda moment: moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    env.filters["short_when"] = lambda moment: moment.astimezone(UTC).strftime("%d %b %H:%M:%S")
    return env


ENV = _environment()


def page(template: str, context: dict[str, Any], *, status: int = 200) -> HTMLResponse:
    html = ENV.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def error_page(status: int, title: str, message: str, *, back: tuple[str, str] | None = None) -> HTMLResponse:
    """The same page for every caller: a missing extension and another tenant's look exactly alike.
    `back` is (url, label) of the page to return to; the list of extensions when None."""
    url, label = back or (f"{PREFIX}/extensions", "Back to your extensions")
    return page("error.html", {"status": status, "title": title, "message": message, "session": None,
                               "back_url": url, "back_label": label}, status=status)
