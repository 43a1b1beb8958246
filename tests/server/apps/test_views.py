"""The two ui:// views: as an Apps client reads them (listed with the app MIME type, readable whole), and as
committed — what apps/ builds, loading nothing from anywhere.

``apps/build.sh`` (npm, esbuild) builds voicing_mcp/pages/apps/ from apps/src with the packages pinned in
apps/package-lock.json and writes build.json: the ext-apps version and the SHA-256 of every source and output. These
tests recompute the digests without npm: a source changed without a rebuild, or a built file edited by hand, fails
here (rebuild with apps/build.sh and commit its output)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from mcp.server.apps import APP_MIME_TYPE
from mcp_types import TextResourceContents

from tests.server.apps.apps_support import apps_server
from voicing_mcp.server.apps import CAMPAIGN_VIEW, RECONCILE_VIEW, VIEWS_DIR

ROOT = Path(__file__).resolve().parents[3]
APPS = ROOT / "apps"
VIEWS = ("campaign.html", "reconcile.html")
BUILD = json.loads((VIEWS_DIR / "build.json").read_text(encoding="utf-8"))
LOCK = json.loads((APPS / "package-lock.json").read_text(encoding="utf-8"))
#: URL strings the bundled libraries carry as identifiers, never fetched (JSON Schema dialect ids, the SVG
#: namespace, a doc comment's example and a validator's name); anything else is a failure
IDENTIFIERS = re.compile(
    r"^https?://(json-schema\.org/|www\.w3\.org/2000/svg$|\*\.example\.com$|github\.com/cfworker$|\[\$\{)"
)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_text(encoding="utf-8").replace("\r\n", "\n").encode("utf-8")).hexdigest()


def pinned(name: str) -> str:
    return LOCK["packages"][f"node_modules/{name}"]["version"]


def test_the_views_are_built_from_the_committed_source_and_lockfile() -> None:
    assert set(BUILD["sources"]) >= {"apps/package.json", "apps/package-lock.json", "apps/src/campaign.js"}
    for source, sha in BUILD["sources"].items():
        assert digest(ROOT / source) == sha, f"{source} changed since the views were built: run apps/build.sh"
    for output, sha in BUILD["outputs"].items():
        assert digest(VIEWS_DIR / output) == sha, f"{output} is not what apps/build.sh wrote: run apps/build.sh"
    assert set(BUILD["outputs"]) == {*VIEWS, "THIRD_PARTY_LICENSES.txt"}


def test_the_ext_apps_version_is_pinned_exactly_and_named_by_each_view() -> None:
    package = json.loads((APPS / "package.json").read_text(encoding="utf-8"))
    version = package["devDependencies"]["@modelcontextprotocol/ext-apps"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), "pin an exact version"
    assert pinned("@modelcontextprotocol/ext-apps") == version == BUILD["@modelcontextprotocol/ext-apps"]
    for view in VIEWS:
        html = (VIEWS_DIR / view).read_text(encoding="utf-8")
        assert f'<meta name="generator" content="@modelcontextprotocol/ext-apps {version}">' in html
        assert f"with @modelcontextprotocol/ext-apps {version}" in html


def test_every_bundled_package_is_at_its_locked_version_with_its_licence_beside_the_views() -> None:
    licences = (VIEWS_DIR / "THIRD_PARTY_LICENSES.txt").read_text(encoding="utf-8")
    assert "@modelcontextprotocol/ext-apps" in BUILD["bundled"] and "zod" in BUILD["bundled"]
    for name, version in BUILD["bundled"].items():
        assert pinned(name) == version
        assert f"{name} {version} — " in licences
    assert "Apache License" in licences and "MIT License" in licences


@pytest.mark.parametrize("view", VIEWS)
def test_a_view_is_one_self_contained_file_that_requests_nothing_from_anywhere(view: str) -> None:
    html = (VIEWS_DIR / view).read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>") and html.rstrip().endswith("</html>")
    # one inline script and one inline style; nothing fetched: no src, no stylesheet link, no import, no url()
    assert html.count("<script>") == 1 and not re.search(r"<script[^>]*\ssrc\s*=", html, re.I)
    assert not re.search(r"<(link|img|iframe|object|embed|base)\b", html, re.I)
    assert not re.search(r"@import|(?<![\w.])url\(\s*['\"]?(https?:)?//", html)  # CSS url(); JS new URL() is below
    assert not re.search(r"\bimport\s*\(\s*['\"`]https?:", html)
    # the view's own policy forbids any other load a library might attempt
    assert (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'"
        in html
    )
    urls = set(re.findall(r"https?://[^\s\"'`)<>\\,;]+", html))
    assert urls, "the bundle carries the libraries' schema ids"
    assert [u for u in urls if not IDENTIFIERS.match(u)] == []
    source = (APPS / "src" / view).read_text(encoding="utf-8")
    for element_id in re.findall(r'\sid="([^"]+)"', source):
        assert f'id="{element_id}"' in html


async def test_an_apps_client_lists_both_views_with_the_app_mime_type_and_reads_each_whole(
    tmp_path: Path, mode: str
) -> None:
    async with apps_server(tmp_path, mode, apps=True) as rig:
        listed = {str(r.uri): r for r in (await rig.client.list_resources()).resources}
        reads = {uri: await rig.client.read_resource(uri) for uri in (CAMPAIGN_VIEW, RECONCILE_VIEW)}
    for uri, read in reads.items():
        assert listed[uri].mime_type == APP_MIME_TYPE
        [content] = read.contents
        assert isinstance(content, TextResourceContents) and content.mime_type == APP_MIME_TYPE
        assert content.text.startswith("<!doctype html>") and content.text.rstrip().endswith("</html>")
        assert "@modelcontextprotocol/ext-apps" in content.text
