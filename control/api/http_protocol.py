"""The HTTP/1.1 protocol the API is served with: uvicorn's (httptools), answering a request it cannot parse in the
API's error shape.

Uvicorn refuses such a request itself, before any ASGI app runs, with a plain-text 400 ("Invalid HTTP request
received."). The likeliest one a client sends is a URL over 65,535 bytes, the longest httptools parses: that one
answers 414 `uri_too_long`, any other 400 `request_invalid`. Serve the API with `http=ApiHttpProtocol`.
"""

from __future__ import annotations

import json
from http import HTTPStatus

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_URL_BYTES = 65_535  # httptools.parse_url refuses a longer one


class ApiHttpProtocol(HttpToolsProtocol):
    def send_400_response(self, msg: str) -> None:  # uvicorn's only answer to an unparsable request
        url = getattr(self, "url", b"")  # set once a request line begins
        if len(url) > MAX_URL_BYTES:
            status, code = HTTPStatus.REQUEST_URI_TOO_LONG, "uri_too_long"
            message = (f"the URL is {len(url)} bytes long, over the {MAX_URL_BYTES} this server reads: no path or "
                       "query of this API needs that many; shorten it")
        else:
            status, code = HTTPStatus.BAD_REQUEST, "request_invalid"
            message = "the request is not valid HTTP/1.1 (request line or headers); check what the client sends"
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        head = [f"HTTP/1.1 {status.value} {status.phrase}\r\n".encode()]
        head += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
        head += [b"content-type: application/json\r\n", b"content-length: %d\r\n" % len(body),
                 b"connection: close\r\n", b"\r\n"]
        self.transport.write(b"".join(head) + body)
        self.transport.close()
