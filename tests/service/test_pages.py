"""The pages a person opens load nothing from another origin: the dashboard's own modules, and Swagger UI
and ReDoc as the service serves them (scripts/vendor_web.py)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.helpers.pages import dashboard_files, links, own_weight

ABSOLUTE_URL = re.compile(r"https?://(?!www\.w3\.org/2000/svg)")  # an SVG namespace is a name, not a request
PAGE_WEIGHT_LIMIT = 300_000  # bytes of the dashboard's own HTML + JS + CSS, uncompressed (issue 24)


def test_the_dashboard_loads_only_its_own_files_and_weighs_under_300_kb(client: TestClient) -> None:
    files = dashboard_files(client)
    assert all(path.startswith("/") and not path.startswith("//") for path in files), list(files)
    own = {path: body for path, body in files.items() if path == "/" or path.endswith((".js", ".css"))}
    assert "/static/js/main.js" in own and "/static/app.css" in own and "/static/js/views/job.js" in own
    assert own_weight(files) <= PAGE_WEIGHT_LIMIT
    for path, body in own.items():
        assert not ABSOLUTE_URL.search(body.decode()), f"{path} names another origin"


def test_swagger_ui_and_redoc_come_from_the_service(client: TestClient) -> None:
    for page, expected in [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")]:
        response = client.get(page)
        assert response.status_code == 200 and "text/html" in response.headers["content-type"]
        found = links(response.text)
        assert any(link.endswith(expected) for link in found), found
        assert "fonts.googleapis.com" not in response.text and "cdn.jsdelivr.net" not in response.text
        for link in found:
            assert link.startswith("/"), f"{page} loads {link} from elsewhere"
            assert client.get(link).status_code == 200, link
    assert b"cdn.redoc.ly" not in client.get("/static/vendor/redoc/redoc.standalone.js").content
    assert client.get("/static/vendor/redoc/LICENSE").status_code == 200
    assert client.get("/static/vendor/swagger-ui-dist/LICENSE").status_code == 200
