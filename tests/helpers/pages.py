"""The dashboard's own files, found the way a browser finds them: the page's links, then each module's imports."""

from __future__ import annotations

import re
from typing import Any, Protocol
from urllib.parse import urljoin

LINKS = re.compile(r"""(?:src|href)=["']([^"']+)["']""")
IMPORTS = re.compile(r"""^import .* from ["']([^"']+)["'];$""", re.MULTILINE)


def links(html: str) -> list[str]:
    return LINKS.findall(html)


class _Getter(Protocol):
    def get(self, url: str) -> Any: ...  # an httpx.Client or Starlette's TestClient


def dashboard_files(client: _Getter) -> dict[str, bytes]:
    """path -> body of "/" and everything it loads."""
    seen: dict[str, bytes] = {}
    todo = ["/"]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        response = client.get(path)
        assert response.status_code == 200, f"{path}: {response.status_code}"
        body = response.content
        seen[path] = body
        if path == "/":
            todo += [link for link in links(body.decode()) if not link.startswith("#")]
        elif path.endswith(".js"):
            todo += [urljoin(path, link) for link in IMPORTS.findall(body.decode())]
    return seen


def own_weight(files: dict[str, bytes]) -> int:
    """Bytes of the dashboard's own HTML, JS and CSS (not the API docs it links to)."""
    return sum(len(body) for path, body in files.items() if path == "/" or path.endswith((".js", ".css")))
