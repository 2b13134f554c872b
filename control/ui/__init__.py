"""The web management UI at /ui/: server-rendered pages (Jinja2) over the control plane's service layer.

Sign in with an API client's credentials, pick an extension, and manage the requests of the page
"CallAPI Published Events for Extension {ext_no}". No JavaScript; every POST form carries a CSRF token, and a post
the browser marks cross-site is refused; every change follows POST-redirect-GET. Include `router` in the Control
API's FastAPI app.
"""

from fastapi import APIRouter

from control.ui import routes_auth, routes_pages, routes_requests

router = APIRouter(include_in_schema=False)  # cross-site posts are refused before it, by deps.SameSite in the app
router.include_router(routes_auth.router)
router.include_router(routes_pages.router)
router.include_router(routes_requests.router)

__all__ = ["router"]
