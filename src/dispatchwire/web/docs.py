"""`/docs`: Swagger UI over `/openapi.json`, served from the files installed with the package.

FastAPI's own page loads Swagger UI from a CDN, a blank page on a closed network. The files
come from `swagger-ui-bundle-v2` (Swagger UI 5, which reads OpenAPI 3.1; Apache-2.0, its
licence served at `/docs/LICENSE`), and the page asks no other host for anything: no
validator badge, no fonts, our own icon.
"""

from importlib.metadata import distribution
from pathlib import Path

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response
from swagger_ui_bundle import swagger_ui_path

__all__ = ["router"]

ASSETS = Path(str(swagger_ui_path))
FILES = {"swagger-ui-bundle.js": "text/javascript; charset=utf-8",
         "swagger-ui.css": "text/css; charset=utf-8"}
PARAMETERS = {"validatorUrl": None,  # the badge would ask validator.swagger.io
              "deepLinking": True, "displayRequestDuration": True, "tryItOutEnabled": False}

router = APIRouter(include_in_schema=False)


@router.get("/docs")
async def docs() -> HTMLResponse:
    return get_swagger_ui_html(openapi_url="/openapi.json", title="dispatchwire API",
                               swagger_js_url="/docs/swagger-ui-bundle.js",
                               swagger_css_url="/docs/swagger-ui.css",
                               swagger_favicon_url="/static/icon.svg",
                               swagger_ui_parameters=PARAMETERS)


@router.get("/docs/LICENSE")
async def licence() -> PlainTextResponse:
    """Swagger UI's licence, shipped in the bundle's distribution."""
    text = distribution("swagger-ui-bundle-v2").read_text("licenses/LICENSE") or ""
    return PlainTextResponse(text)


@router.get("/docs/{name}")
async def asset(name: str) -> Response:
    if name not in FILES:  # a name outside the set never reaches the file system
        return JSONResponse({"detail": f"no docs asset {name!r}"}, status_code=404)
    return FileResponse(ASSETS / name, media_type=FILES[name],
                        headers={"Cache-Control": "no-cache"})
