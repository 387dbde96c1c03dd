"""The FastAPI application: one library, the REST API (routers per feature), the web app, /docs.

``create_app`` is the factory (txtai's ``api/application.py`` pattern): tests and ``framefind serve``
build the same app. Every error is JSON ``{"error": "one line"}``, never a traceback. With a token,
every request must carry it (``Authorization: Bearer``, or the cookie set by opening ``/?token=``).
The API docs are served from the ``swagger-ui-bundle`` package: nothing is fetched from a CDN.
"""

from __future__ import annotations

import hmac
import os
import shutil
import tempfile
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException

import framefind
from framefind.errors import FrameFindError
from framefind.interfaces.server import routes_items, routes_library, routes_people, routes_search
from framefind.interfaces.server.jobs import IndexJob
from framefind.library import Library
from framefind.store.ray_index import ray_address

if TYPE_CHECKING:
    from framefind.store.watch import WatchOptions

WEB = Path(__file__).resolve().parent.parent / "web"
COOKIE = "framefind_token"
# The web app loads nothing from elsewhere: a browser enforces it too.
CSP = ("default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self' 'unsafe-inline'; "
       "script-src 'self'; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'")


def create_app(library_dir: str | Path, token: str | None = None, allow_urls: bool = False,
               upload_limits_mb: dict[str, int] | None = None, watch: WatchOptions | None = None,
               ray: str | None = None) -> FastAPI:
    """The app over the library at ``library_dir`` (which must exist: run ``framefind index`` first); ``watch``:
    also index what changes in its folders, in a thread that lives as long as the app (store/watch.py); ``ray``:
    index runs started from the API decode and embed on the Ray cluster at that address (store/ray_index.py)."""
    library = Library.open(library_dir, create=False)
    if ray is not None:
        ray = ray_address(ray)  # Ray missing, or no address: one line before serving
    scratch = Path(tempfile.mkdtemp(prefix="framefind-serve-"))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # Searches hold the GIL for part of their time: more of them at once than 2 per core only
        # contend (measured, 8 clients at 100k: 4 at a time 149 queries/s, p50 52 ms; 40 at a time 122, 62 ms).
        app.state.search_limiter = anyio.CapacityLimiter(2 * (os.cpu_count() or 1))
        thread = _watching(library, watch)
        app.state.watcher = thread and thread.watcher
        yield
        if thread is not None:
            thread.stop()
        app.state.job.wait(timeout=5)
        library.close()
        shutil.rmtree(scratch, ignore_errors=True)

    app = FastAPI(title="framefind", version=framefind.__version__, lifespan=lifespan, docs_url=None,
                  description="Local-first semantic search over one image and video library.")
    app.state.library, app.state.token, app.state.allow_urls = library, token, allow_urls
    app.state.ray, app.state.watcher = ray, None
    app.state.upload_limits = upload_limits_mb or {}
    app.state.uploads, app.state.clips = scratch / "uploads", scratch / "clips"
    app.state.uploads.mkdir()
    app.state.clips.mkdir()
    app.state.job = IndexJob(library)
    for module in (routes_search, routes_items, routes_library, routes_people):
        app.include_router(module.router)
    _errors(app)
    _pages(app)
    app.add_middleware(Guard)
    return app


def _watching(library: Library, options: WatchOptions | None):
    """``serve --watch``: the watcher's thread, started (its lines go to the server's stderr)."""
    if options is None:
        return None
    from framefind.interfaces.console import notice
    from framefind.store.watch import WatchThread

    thread = WatchThread(library, options, notice)
    thread.start()
    return thread


def _errors(app: FastAPI) -> None:
    @app.exception_handler(FrameFindError)
    async def framefind_error(request: Request, exc: FrameFindError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=getattr(exc, "status", 400))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "form"))
        return JSONResponse({"error": f"{where or 'request'}: {first.get('msg')}"}, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": f"internal error ({type(exc).__name__})"}, status_code=500)


def _pages(app: FastAPI) -> None:
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/static", StaticFiles(directory=WEB), name="static")
    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(WEB / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/docs", include_in_schema=False)
    def docs() -> Response:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="framefind API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/docs-assets/favicon-32x32.png")


class Guard:
    """The token check (when the server has one) and the security headers of every response.

    A plain ASGI middleware: Starlette's BaseHTTPMiddleware costs a task and a stream per request.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        token = request.app.state.token
        from_query = request.query_params.get("token")
        if token is not None:
            bearer = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            offered = [bearer, request.cookies.get(COOKIE, ""), from_query or ""]
            if not any(value and hmac.compare_digest(value, token) for value in offered):
                response = JSONResponse({"error": "this server needs its access token (open /?token=...)"}, 401)
                return await response(scope, receive, send)
        set_cookie = token is not None and from_query and hmac.compare_digest(from_query, token)
        docs = request.url.path.startswith("/docs")

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "no-referrer"
                if not docs:
                    headers["Content-Security-Policy"] = CSP
                if set_cookie:
                    headers.append("Set-Cookie", f"{COOKIE}={token}; HttpOnly; Path=/; SameSite=Strict")
            await send(message)

        await self.app(scope, receive, send_with_headers)
