"""The pages a person opens: the dashboard (`/`), Swagger UI (`/docs`) and ReDoc (`/redoc`), and their files.

Everything they load comes from this service (`/static/...`): the dashboard's own scripts, and the pinned
Swagger UI and ReDoc that scripts/vendor_web.py fetched. On a closed network every page still renders.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent.parent / "static"
VENDOR = "/static/vendor"
FAVICON = "/static/favicon.svg"

router = APIRouter(tags=["pages"])


def mount_static(app: "object") -> None:
    """Serve service/static at /static (the app's `mount`, which a router cannot do)."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")  # type: ignore[attr-defined]


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def dashboard() -> HTMLResponse:
    return HTMLResponse((STATIC / "index.html").read_text())


@router.get("/docs", response_class=HTMLResponse, include_in_schema=False)
async def swagger_ui() -> HTMLResponse:
    _require_vendored("swagger-ui-dist")
    # validatorUrl None: Swagger UI would otherwise ask validator.swagger.io about the document.
    return get_swagger_ui_html(openapi_url="/openapi.json", title="mnistlab - Swagger UI",
                               swagger_js_url=f"{VENDOR}/swagger-ui-dist/swagger-ui-bundle.js",
                               swagger_css_url=f"{VENDOR}/swagger-ui-dist/swagger-ui.css",
                               swagger_favicon_url=FAVICON, swagger_ui_parameters={"validatorUrl": None})


@router.get("/redoc", response_class=HTMLResponse, include_in_schema=False)
async def redoc() -> HTMLResponse:
    _require_vendored("redoc")
    return get_redoc_html(openapi_url="/openapi.json", title="mnistlab - ReDoc",
                          redoc_js_url=f"{VENDOR}/redoc/redoc.standalone.js", redoc_favicon_url=FAVICON,
                          with_google_fonts=False)


def _require_vendored(package: str) -> None:
    from service.errors import Conflict

    if not (STATIC / "vendor" / package).is_dir():
        raise Conflict(f"{package} is not installed in service/static/vendor: run scripts/vendor_web.py "
                       "(scripts/setup does)")
