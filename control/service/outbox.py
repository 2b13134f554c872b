"""The transactional outbox: each change of an extension's requests adds a row in the change's transaction.

The relay (control/relay.py) publishes the extension's full current list (schemas/request_rows.py) to
`event-requests`.
"""

from __future__ import annotations

from typing import Any

import psycopg

from control.service.tenancy import ExtensionRef


def enqueue_change(conn: psycopg.Connection[Any], extension: ExtensionRef) -> None:
    """Record that `extension`'s requests changed; call inside the change's own transaction."""
    conn.execute("INSERT INTO outbox (extension) VALUES (%s)", (extension.number,))
