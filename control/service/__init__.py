"""The control plane's service layer: plain functions over a psycopg connection and the caller's account.

Both the REST API and the web UI call these, and nothing else touches the tables. Errors are
control.errors.ControlError subclasses carrying the public error code and HTTP status.

Typical use (an autocommit connection; every change commits its rows and its outbox row together):

    caller = authenticate(conn, token, now=datetime.now(UTC))
    extension = resolve_extension(conn, caller, "@me", "0003*210")
    saved = add_request(conn, settings, extension, {"type": 0, "url": "https://…", "signing": True})
    saved.secret  # 'whsec_…', shown this once
"""

from control.service.admin import (
    Account,
    ClientCredentials,
    create_client,
    create_extension,
    create_extensions,
    create_organization,
    create_provider,
)
from control.service.auth import IssuedToken, authenticate, issue_token, revoke_client, revoke_token
from control.service.queries import (
    ListQuery,
    get_request,
    list_deliveries,
    list_requests,
    parse_list_query,
    parse_paging,
)
from control.service.requests import (
    add_request,
    edit_request,
    parse_fields,
    remove_request,
    remove_requests_of_type,
    rotate_secret,
)
from control.service.tenancy import Caller, ExtensionRef, list_extensions, resolve_extension
from control.service.test_notifications import send_test_notification
from control.service.throttle import SignInPolicy, authenticate_client, sign_in
from control.service.views import DeliveryPage, DeliveryView, RequestPage, RequestView, SavedRequest

__all__ = [
    "Account",
    "Caller",
    "ClientCredentials",
    "DeliveryPage",
    "DeliveryView",
    "ExtensionRef",
    "IssuedToken",
    "ListQuery",
    "RequestPage",
    "RequestView",
    "SavedRequest",
    "SignInPolicy",
    "add_request",
    "authenticate",
    "authenticate_client",
    "create_client",
    "create_extension",
    "create_extensions",
    "create_organization",
    "create_provider",
    "edit_request",
    "get_request",
    "issue_token",
    "list_deliveries",
    "list_extensions",
    "list_requests",
    "parse_fields",
    "parse_list_query",
    "parse_paging",
    "remove_request",
    "remove_requests_of_type",
    "resolve_extension",
    "revoke_client",
    "revoke_token",
    "rotate_secret",
    "send_test_notification",
    "sign_in",
]
