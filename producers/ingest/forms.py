"""A notification's parameters from the query string and form bodies, each name and value read as charset.py says
(UTF-8, else Windows-1252; a declared charset followed). aiohttp's own readers would put U+FFFD in place of bytes
that are not UTF-8 (the query, an urlencoded body) or fail the whole form (a multipart part), so these read the
bytes themselves, with aiohttp's bounds. Each fallback is counted in callapi_ingest_latin1_fallback_total{source}
and logged at most once a minute.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from urllib.parse import unquote_to_bytes

from aiohttp import BodyPartReader, hdrs, web

from producers.ingest import metrics
from producers.ingest.charset import Decoded, NotInCharset, decode_form, in_charset, is_utf8, utf8_form
from schemas.occasional_log import Occasionally

log = logging.getLogger(__name__)

MAX_FORM_FIELDS = 1000
"""Fields of one body at most (413 beyond), as aiohttp's own form reading bounds them (client_max_fields)."""

_FALLBACK_LOG = Occasionally(interval_s=60.0)


def _noted(request: web.Request, source: str, fields: list[Decoded]) -> list[Decoded]:
    if fell_back := [decoded.name for decoded in fields if decoded.fallback]:
        metrics.LATIN1_FALLBACK.labels(source).inc(len(fell_back))
        if (held := _FALLBACK_LOG.due(time.monotonic())) is not None:
            log.warning("ingest for tenant %s: %s in the %s not UTF-8, read as Windows-1252 (ISO-8859-1)%s",
                        request.match_info.get("tenant", "?"), ", ".join(fell_back), source,
                        f" ({held} more since the last such line)" if held else "")
    return fields


def query_fields(request: web.Request) -> Iterable[tuple[str, str]]:
    """The query string's (name, value) pairs. aiohttp keeps the request target as UTF-8 with surrogate escapes
    (raw bytes reach here only from its pure-Python parser; the C parser refuses them), so encoding it so gives
    its bytes. The usual query, UTF-8 throughout, is aiohttp's own parse (a tenth of the cost of reading each
    pair here); only one that is not goes through decode_form."""
    raw = request.rel_url.raw_query_string.encode("utf-8", "surrogateescape")
    try:
        unquote_to_bytes(raw).decode("utf-8")  # every pair is UTF-8 then: & and = never fall inside a character
    except UnicodeDecodeError:
        return ((f.name, f.value) for f in _noted(request, "query", decode_form(raw)))
    return request.query.items()


async def urlencoded_fields(request: web.Request) -> Iterable[tuple[str, str]]:
    """An application/x-www-form-urlencoded body's (name, value) pairs, in the charset its Content-Type declares if
    any. ValueError (NotInCharset) for one not in that charset, LookupError for a charset Python does not know. The
    usual form, UTF-8 throughout, takes utf8_form (a quarter of decode_form's time)."""
    body = (await request.read()).rstrip()  # read() answers 413 past client_max_size
    if body.count(b"&") >= MAX_FORM_FIELDS:
        raise _too_many_fields()
    charset = request.charset
    if is_utf8(charset) and (pairs := utf8_form(body)) is not None:
        return pairs
    return ((f.name, f.value) for f in _noted(request, "form", decode_form(body, charset)))


async def multipart_fields(request: web.Request, *, max_size: int) -> tuple[list[Decoded], list[str]]:
    """A multipart/form-data body's fields and the names of its files (a part with a filename, or of a type other
    than text/*, which aiohttp reads as a file too). A text part is read in its declared charset, else UTF-8, else
    Windows-1252; 413 past `max_size` bytes of body. ValueError, LookupError and
    RuntimeError as aiohttp's post() raises them."""
    content = request.content
    fields: list[Decoded] = []
    files: list[str] = []
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise ValueError("a multipart part holds a multipart of its own: send each parameter as a field")
        if part.name is None:
            raise ValueError("a multipart part has no name")
        if len(fields) + len(files) >= MAX_FORM_FIELDS:
            raise _too_many_fields()
        raw = bytearray()
        while chunk := await part.read_chunk():
            if 0 < max_size < content.total_bytes:
                raise web.HTTPRequestEntityTooLarge(max_size, content.total_bytes)
            raw.extend(chunk)
        content_type = part.headers.get(hdrs.CONTENT_TYPE)
        if part.filename or not (content_type is None or content_type.startswith("text/")):
            files.append(part.name)
            continue
        decoded = bytearray()
        async for piece in part.decode_iter(raw):  # Content-Transfer-Encoding (RuntimeError for an unknown one)
            decoded.extend(piece)
        charset = part.get_charset(default="") or None
        try:
            value, fell_back = in_charset(bytes(decoded), charset)
        except UnicodeDecodeError:
            raise NotInCharset(part.name, str(charset)) from None
        fields.append(Decoded(part.name, value, fell_back))
    return _noted(request, "multipart", fields), files


def _too_many_fields() -> web.HTTPRequestEntityTooLarge:
    return web.HTTPRequestEntityTooLarge(MAX_FORM_FIELDS, text=f"more than {MAX_FORM_FIELDS} form fields")
