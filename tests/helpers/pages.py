"""The dashboard's own files, found the way a browser finds them: the page's links, then each module's imports."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urljoin

LINKS = re.compile(r"""(?:src|href)=["']([^"']+)["']""")
IMPORTS = re.compile(r"""^import .* from ["']([^"']+)["'];$""", re.MULTILINE)


def links(html: str) -> list[str]:
    return LINKS.findall(html)


def dashboard_files(get: Callable[[str], tuple[int, bytes]]) -> dict[str, bytes]:
    """path -> body of "/" and everything it loads. get(path) -> (status, body)."""
    seen: dict[str, bytes] = {}
    todo = ["/"]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        status, body = get(path)
        assert status == 200, f"{path}: {status}"
        seen[path] = body
        if path == "/":
            todo += [link for link in links(body.decode()) if not link.startswith("#")]
        elif path.endswith(".js"):
            todo += [urljoin(path, link) for link in IMPORTS.findall(body.decode())]
    return seen


def own_weight(files: dict[str, bytes]) -> int:
    """Bytes of the dashboard's own HTML, JS and CSS (not the API docs it links to)."""
    return sum(len(body) for path, body in files.items() if path == "/" or path.endswith((".js", ".css")))
