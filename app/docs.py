"""`/docs` (Swagger UI) and `/redoc` served with their JavaScript and CSS from the installed
package (the assets `fastapi-offline` ships), following FastAPI's recipe for self-hosted docs:
the pages work without internet and load nothing from another host."""

from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

ASSETS_PATH = "/docs-assets"
_ASSETS = files("fastapi_offline") / "static"


def install_docs(app: FastAPI) -> None:
    """Mount the assets and the two pages on `app` (made with `docs_url=None, redoc_url=None`)."""
    app.mount(ASSETS_PATH, StaticFiles(directory=str(_ASSETS)), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    title = f"{app.title}: API reference"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        spec, assets = _urls(request, openapi_url)
        return get_swagger_ui_html(
            openapi_url=spec,
            title=title,
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        spec, assets = _urls(request, openapi_url)
        return get_redoc_html(
            openapi_url=spec,
            title=title,
            redoc_js_url=f"{assets}/redoc.standalone.js",
            redoc_favicon_url=f"{assets}/favicon.png",
            with_google_fonts=False,
        )


def _urls(request: Request, openapi_url: str) -> tuple[str, str]:
    """The spec's and the assets' URLs, under the proxy's root path if any."""
    root = request.scope.get("root_path", "")
    return root + openapi_url, root + ASSETS_PATH
