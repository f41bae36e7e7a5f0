"""Serves the pages and their static files; the pages talk only to the public API and `/ws`."""

from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, JSONResponse, Response

__all__ = ["router"]

STATIC = Path(__file__).parent / "static"
PAGES = {"/": "index.html", "/admin": "admin.html", "/master": "master.html"}
MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
               ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
# Revalidated on every load, so a page never runs with modules of another version.
HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; connect-src 'self'; img-src 'self'; "
                               "object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
}
# Listed once, at import: a requested name outside this set never reaches the file system.
FILES = {path.name: path for path in STATIC.iterdir()
         if path.is_file() and path.suffix in MEDIA_TYPES}

router = APIRouter(include_in_schema=False)


def _file(name: str) -> FileResponse:
    path = FILES[name]
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=HEADERS)


def _page(name: str) -> Callable[[], Awaitable[FileResponse]]:
    async def page() -> FileResponse:
        return _file(name)

    return page


for _path, _name in PAGES.items():
    router.add_api_route(_path, _page(_name), methods=["GET", "HEAD"],
                        response_class=FileResponse)


@router.api_route("/sw.js", methods=["GET", "HEAD"])
async def service_worker() -> FileResponse:
    """The pages' service worker (Web Push on /master), from the root: a worker's scope is at
    most the folder it is served from, and it must control /master."""
    return _file("sw.js")


@router.api_route("/static/{name}", methods=["GET", "HEAD"])
async def static_file(name: str) -> Response:
    if name not in FILES:
        return JSONResponse({"detail": f"no static file {name!r}"}, status_code=404)
    return _file(name)
