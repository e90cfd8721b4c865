#!/usr/bin/env python3
"""Fetch the pinned browser packages the service serves itself (Swagger UI and ReDoc for /docs and /redoc).

They come from the npm registry as the published tarballs, checked against the registry's sha512
integrity pinned below, and only the files the pages load are kept, each package with its licence, in
service/static/vendor/ (ignored by git: nothing fetched is committed). `scripts/setup` and the Dockerfile
run this; it does nothing when the pinned versions are already there.

One patch: ReDoc shows a "Redocly" logo that it fetches from cdn.redoc.ly; it is pointed at a small local
SVG instead, so that /redoc asks nothing of another origin.

    python3 scripts/vendor_web.py            # fetch what is missing
    python3 scripts/vendor_web.py --check    # exit 1 if anything is missing (no network)
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import shutil
import sys
import tarfile
import urllib.request
from pathlib import Path

REGISTRY = "https://registry.npmjs.org"
DEST = Path(__file__).resolve().parent.parent / "service" / "static" / "vendor"

# name, version, the tarball's sha512 integrity (`npm view NAME@VERSION dist.integrity`), files kept
PACKAGES = [
    ("swagger-ui-dist", "5.35.0",
     "sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ==",
     ["swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "swagger-ui-bundle.js.LICENSE.txt"]),
    ("redoc", "2.5.4",
     "sha512-M6jWhG1qoBnH6TFmzJnstyCZ87HmOY/UzDm78mHiYihEdlV/YcS9ogOo1NlElnJMeLsyxHFe2yFc4sNjHTrABQ==",
     ["bundles/redoc.standalone.js", "LICENSE", "bundles/redoc.standalone.js.LICENSE.txt"]),
]
STAMP = "pinned.json"
PATCH_VERSION = 1  # bump when PATCHES change: the stamp then no longer matches and the files are remade
REDOCLY_LOGO = "/static/vendor/redoc/redocly-logo.svg"
# package -> (file, text pinned upstream, replacement)
PATCHES = {"redoc": [("redoc.standalone.js", "https://cdn.redoc.ly/redoc/logo-mini.svg", REDOCLY_LOGO)]}
# package -> (file, content): files the patches point at
EXTRA_FILES = {"redoc": [("redocly-logo.svg", '<svg xmlns="http://www.w3.org/2000/svg" width="80" height="14">'
                          '<text x="0" y="11" font-family="sans-serif" font-size="11" fill="#333">Redocly</text>'
                          '</svg>\n')]}


def _pinned() -> dict[str, object]:
    return {**{name: version for name, version, _, _ in PACKAGES}, "patches": PATCH_VERSION}


def is_complete(dest: Path = DEST) -> bool:
    stamp = dest / STAMP
    if not stamp.is_file() or json.loads(stamp.read_text()) != _pinned():
        return False
    return all((dest / name / Path(file).name).is_file() for name, _, _, files in PACKAGES for file in files)


def _fetch(name: str, version: str, integrity: str) -> bytes:
    url = f"{REGISTRY}/{name}/-/{name.rsplit('/', 1)[-1]}-{version}.tgz"
    with urllib.request.urlopen(url, timeout=120) as response:
        data = response.read()
    algorithm, expected = integrity.split("-", 1)
    actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if actual != expected:
        raise SystemExit(f"{url}: {algorithm} is {actual}, pinned {expected}: refusing it")
    return data


def vendor(dest: Path = DEST) -> None:
    shutil.rmtree(dest, ignore_errors=True)
    for name, version, integrity, files in PACKAGES:
        with tarfile.open(fileobj=io.BytesIO(_fetch(name, version, integrity))) as archive:
            for file in files:
                member = archive.extractfile(f"package/{file}")
                if member is None:
                    raise SystemExit(f"{name}@{version} has no {file}")
                target = dest / name / Path(file).name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(member.read())
        for file, upstream, replacement in PATCHES.get(name, []):
            target = dest / name / file
            text = target.read_text()
            if upstream not in text:
                raise SystemExit(f"{name}@{version}: {file} no longer holds {upstream!r}: update PATCHES")
            target.write_text(text.replace(upstream, replacement))
        for file, content in EXTRA_FILES.get(name, []):
            (dest / name / file).write_text(content)
        print(f"vendored {name}@{version} into {dest / name}", file=sys.stderr)
    (dest / STAMP).write_text(json.dumps(_pinned(), indent=1) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only say whether the pinned files are there")
    parser.add_argument("--dest", type=Path, default=DEST, help="where to put them (default: %(default)s)")
    args = parser.parse_args()
    if is_complete(args.dest):
        return 0
    if args.check:
        print(f"{args.dest} lacks the pinned browser packages: run scripts/vendor_web.py", file=sys.stderr)
        return 1
    vendor(args.dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
