"""The README and docs/ stay in step with the code: every tool, resource and prompt the server offers and every
setting the config reads is documented, nothing documented is missing from the code, the links lead somewhere,
and the README stays short enough to read in ten minutes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mcp import Client

from voicing_mcp.config import QuietHours, Settings, load_settings, setting_names
from voicing_mcp.server.app import create_server

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
README_MAX_LINES = 300
# VOICING_* names the docs may mention that are not settings: the test suite's switch and misspellings shown as
# examples of the warning a misspelt setting gets
NOT_SETTINGS = {"VOICING_TEST_REQUIRE_POSTGRES", "VOICING_DNC_FIEL", "VOICING_DNC", "VOICING_CONFIRMATON"}


@dataclass(frozen=True)
class Offered:
    tools: dict[str, list[str]]  # tool name -> argument names
    resources: list[str]  # URIs and URI templates
    prompts: dict[str, list[str]]  # prompt name -> argument names


async def offered() -> Offered:
    async with Client(create_server(load_settings()), mode="legacy") as client:
        tools = (await client.list_tools()).tools
        resources = (await client.list_resources()).resources
        templates = (await client.list_resource_templates()).resource_templates
        prompts = (await client.list_prompts()).prompts
    return Offered(
        tools={tool.name: list(tool.input_schema.get("properties", {})) for tool in tools},
        resources=[str(r.uri) for r in resources] + [t.uri_template for t in templates],
        prompts={p.name: [a.name for a in p.arguments or []] for p in prompts},
    )


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def section(text: str, heading: str) -> str:
    """The text under ``heading`` (a whole heading line) up to the next heading of the same or a higher level."""
    level = len(heading) - len(heading.lstrip("#"))
    start = text.index(f"\n{heading}\n") + len(heading) + 2
    following = re.compile(rf"^#{{1,{level}}} ", re.M).search(text, start)
    return text[start : following.start() if following else len(text)]


def table_rows(text: str) -> dict[str, str]:
    """First cell (a backticked name) -> the whole row, for every table row in ``text``."""
    return {m.group(1): m.group(0) for m in re.finditer(r"^\| `([^`]+)` \|.*$", text, re.M)}


def test_the_readme_is_read_in_ten_minutes() -> None:
    lines = read(README).splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move the depth to docs/"


async def test_the_readmes_tool_list_is_exactly_the_tools_the_server_offers() -> None:
    readme = read(README)
    match = re.search(r"<!-- section: tools \(owner: server\) -->(.*?)<!-- /section: tools -->", readme, re.S)
    assert match, "README.md has no tools section"
    found = await offered()
    assert set(table_rows(match.group(1))) == set(found.tools)
    for uri in found.resources:
        assert f"`{uri}`" in match.group(1), uri
    for name in found.prompts:
        assert f"`{name}`" in match.group(1), name


async def test_docs_tools_has_a_section_and_a_row_with_every_argument_for_each_tool_and_no_other() -> None:
    text = read(DOCS / "tools.md")
    found = await offered()
    headed = re.findall(r"^## `([a-z_]+)`$", text, re.M)
    assert sorted(headed) == sorted(found.tools), "one '## `tool`' section per tool the server offers"
    rows = table_rows(section(text, "## Every tool at a glance"))
    assert set(rows) == set(found.tools)
    for tool, arguments in found.tools.items():
        for argument in arguments:
            assert f"`{argument}`" in rows[tool], f"docs/tools.md does not name {tool}'s argument {argument}"


async def test_docs_tools_documents_every_resource_and_prompt_with_its_arguments_and_no_other() -> None:
    text = read(DOCS / "tools.md")
    found = await offered()
    resources = table_rows(section(text, "## Resources"))
    assert set(resources) == set(found.resources)
    prompts = table_rows(section(text, "## Prompts"))
    assert set(prompts) == set(found.prompts)
    for prompt, arguments in found.prompts.items():
        for argument in arguments:
            assert f"`{argument}`" in prompts[prompt], f"docs/tools.md does not name {prompt}'s argument {argument}"


def documented_default(value: object) -> str | None:
    """How a setting's default is written in docs/settings.md, for defaults that are plain values."""
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, int | str):
        return f"`{value}`"
    if isinstance(value, QuietHours):
        return f"`{value.start:%H:%M}-{value.end:%H:%M}`"
    return None


def test_docs_settings_has_a_row_for_every_setting_the_config_reads_with_its_default_and_no_other() -> None:
    rows = table_rows(read(DOCS / "settings.md"))
    documented = {name for name in rows if name.startswith("VOICING_")}
    assert documented == set(setting_names())
    for name, field in Settings.model_fields.items():
        row = rows[f"VOICING_{name.upper()}"]
        cells = [cell.strip() for cell in row.strip("|").split(" | ")]
        assert len(cells) == 3 and cells[2], f"VOICING_{name.upper()}: no default column"
        expected = documented_default(field.default)
        if expected is not None:
            assert expected in cells[2], f"VOICING_{name.upper()}: the default {expected} is not in {cells[2]!r}"


def test_no_page_names_a_setting_that_does_not_exist() -> None:
    known = set(setting_names()) | NOT_SETTINGS
    for page in [README, *sorted(DOCS.glob("*.md"))]:
        named = set(re.findall(r"\bVOICING_[A-Z][A-Z0-9_]*[A-Z0-9]\b", read(page)))
        assert named <= known, f"{page.name} names {sorted(named - known)}, which the config does not read"


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", read(path), flags=re.S)
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", text, re.M)}


def test_every_link_between_the_pages_leads_to_a_file_and_heading_that_exist() -> None:
    broken: list[str] = []
    for page in [README, *sorted(DOCS.glob("*.md"))]:
        text = re.sub(r"```.*?```", "", read(page), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            path = (page.parent / file).resolve() if file else page
            if not path.exists():
                broken.append(f"{page.name}: {target} (no such file)")
            elif anchor and path.suffix == ".md" and anchor not in anchors(path):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert broken == []


def test_the_docs_are_the_product_today_not_its_history() -> None:
    history = re.compile(r"before issue|found by a|\bissue \d+|[\d,]+ tests (?:in|took|cost)|before the restructure")
    for page in [README, *sorted(DOCS.glob("*.md"))]:
        assert not history.findall(read(page)), page.name
