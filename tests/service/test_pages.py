"""The pages a person opens load nothing from another origin: the dashboard's own modules, and Swagger UI
and ReDoc as the service serves them (scripts/vendor_web.py)."""

from __future__ import annotations

import re
from urllib.parse import urljoin

from fastapi.testclient import TestClient

LINKS = re.compile(r"""(?:src|href)=["']([^"']+)["']""")
IMPORTS = re.compile(r"""^import .* from ["']([^"']+)["'];$""", re.MULTILINE)
ABSOLUTE_URL = re.compile(r"https?://(?!www\.w3\.org/2000/svg)")  # an SVG namespace is a name, not a request
PAGE_WEIGHT_LIMIT = 300_000  # bytes of the dashboard's own HTML + JS + CSS, uncompressed (issue 24)


def _links(text: str) -> list[str]:
    return LINKS.findall(text)


def _dashboard_files(client: TestClient) -> dict[str, bytes]:
    """The dashboard and every file it loads, following the modules' imports."""
    seen: dict[str, bytes] = {}
    todo = ["/"]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        response = client.get(path)
        assert response.status_code == 200, f"{path}: {response.status_code}"
        seen[path] = response.content
        if path == "/":
            todo += [link for link in _links(response.text) if not link.startswith("#")]
        elif path.endswith(".js"):
            todo += [urljoin(path, link) for link in IMPORTS.findall(response.text)]
    return seen


def test_the_dashboard_loads_only_its_own_files_and_weighs_under_300_kb(client: TestClient) -> None:
    files = _dashboard_files(client)
    assert all(path.startswith("/") and not path.startswith("//") for path in files), list(files)
    own = {path: body for path, body in files.items() if path == "/" or path.endswith((".js", ".css"))}
    assert "/static/js/main.js" in own and "/static/app.css" in own and "/static/js/views/job.js" in own
    assert sum(map(len, own.values())) <= PAGE_WEIGHT_LIMIT
    for path, body in own.items():
        assert not ABSOLUTE_URL.search(body.decode()), f"{path} names another origin"


def test_swagger_ui_and_redoc_come_from_the_service(client: TestClient) -> None:
    for page, expected in [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")]:
        response = client.get(page)
        assert response.status_code == 200 and "text/html" in response.headers["content-type"]
        links = _links(response.text)
        assert any(link.endswith(expected) for link in links), links
        assert "fonts.googleapis.com" not in response.text and "cdn.jsdelivr.net" not in response.text
        for link in links:
            assert link.startswith("/"), f"{page} loads {link} from elsewhere"
            assert client.get(link).status_code == 200, link
    assert b"cdn.redoc.ly" not in client.get("/static/vendor/redoc/redoc.standalone.js").content
    assert client.get("/static/vendor/redoc/LICENSE").status_code == 200
    assert client.get("/static/vendor/swagger-ui-dist/LICENSE").status_code == 200
