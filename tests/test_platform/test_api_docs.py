"""The browsable API docs at /schema come from the platform itself: every script, style and icon the page names is
one of the package's files, served with a year's cache, and the files are the ones the folder's README names.

That the page renders with the internet refused is tested in Chromium (tests/test_clients/test_offline.py).
"""

from __future__ import annotations

import hashlib
import re

import httpx

from cem_platform.app import APIDOCS_DIR, APIDOCS_PATH, APIDOCS_VERSION

ASSET = re.compile(r"""<(?:script|link)\b[^>]*?\b(?:src|href)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


async def test_the_docs_page_names_only_files_of_the_platform(client: httpx.AsyncClient) -> None:
    page = await client.get("/schema")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assets = ASSET.findall(page.text)
    assert len(assets) == 4, assets  # script, preset, style, icon
    assert "://" not in page.text, "an address outside the platform"
    for url in assets:
        assert url.startswith(f"{APIDOCS_PATH}/"), url
        answer = await client.get(url)  # no token: the docs are public like /schema
        assert answer.status_code == 200, url
        assert answer.content == (APIDOCS_DIR / url.rsplit("/", 1)[1]).read_bytes()
        assert answer.headers["cache-control"] == "max-age=31536000, public, immutable"
    assert '"/api/v1/auth/login"' in page.text  # the OpenAPI document is written into the page


async def test_other_paths_of_the_docs_folder_are_not_found(client: httpx.AsyncClient) -> None:
    for path in ("nothing.js", "../app.py", "..%2Fapp.py", "%2e%2e/%2e%2e/settings.py"):
        answer = await client.get(f"{APIDOCS_PATH}/{path}")
        assert answer.status_code == 404, path
        assert answer.json()["error"]["code"] == "not_found"
    assert (await client.get("/schema/static/swagger-ui-0.0.1/swagger-ui.css")).status_code == 404


def test_the_vendored_files_are_the_ones_the_readme_names() -> None:
    readme = (APIDOCS_DIR / "README.md").read_text()
    assert f"`swagger-ui-dist` {APIDOCS_VERSION} " in readme and f"swagger-ui-dist-{APIDOCS_VERSION}.tgz" in readme
    listed = dict(re.findall(r"^\| `([^`]+)` \| `([0-9a-f]{64})` \|$", readme, re.MULTILINE))
    present = {path.name for path in APIDOCS_DIR.iterdir()} - {"README.md"}
    assert set(listed) == present
    for name, digest in listed.items():
        assert hashlib.sha256((APIDOCS_DIR / name).read_bytes()).hexdigest() == digest, name
