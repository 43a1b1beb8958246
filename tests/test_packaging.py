"""The package installs anywhere: the sdist and the wheel built from it (as ``python -m build`` does) carry
the example templates and the web pages' templates, and the installed wheel runs ``demo`` and ``check`` from an
unrelated folder.
``server.json`` (the MCP registry's entry) agrees with pyproject and the real settings."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import tarfile
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from voicing_mcp.cli import demo
from voicing_mcp.config import Settings
from voicing_mcp.config.settings import ENV_PREFIX

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.name for p in (ROOT / "voicing_mcp" / "examples").glob("*.j2"))
#: the web pages' Jinja2 templates (package data: the confirm page renders them)
PAGES = sorted(
    f"voicing_mcp/pages/templates/{p.name}" for p in (ROOT / "voicing_mcp" / "pages" / "templates").glob("*")
)
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
VERSION = PYPROJECT["project"]["version"]
SERVER_JSON = json.loads((ROOT / "server.json").read_text(encoding="utf-8"))


def _run(cmd: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, encoding="utf-8", timeout=300, check=False
    )
    assert done.returncode == 0, f"{cmd} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The sdist, and the wheel built from the unpacked sdist: ``python -m build``'s default path.

    ``--no-isolation`` builds with the hatchling of this environment (a dev dependency), so no index is needed.
    """
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)], cwd=out)
    [sdist] = out.glob("voicing_mcp-*.tar.gz")
    [wheel] = out.glob("voicing_mcp-*.whl")
    return sdist, wheel


def test_the_sdist_carries_the_package_with_its_templates_the_docs_and_the_tests_but_no_ci(
    dists: tuple[Path, Path],
) -> None:
    sdist, _ = dists
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    assert {f"voicing_mcp/examples/{name}" for name in EXAMPLES} <= names
    assert {"voicing_mcp/pages/templates/base.html", "voicing_mcp/pages/templates/confirm.html"} <= set(PAGES)
    assert set(PAGES) <= names
    assert {"LICENSE", "README.md", "pyproject.toml", "prompts/README.md", "server.json", "tests/conftest.py"} <= names
    assert not [n for n in names if n.startswith((".ci/", ".interop/", "scripts/", ".venv/")) or "__pycache__" in n]


def test_the_wheel_built_from_the_sdist_carries_the_templates_the_license_and_the_project_urls(
    dists: tuple[Path, Path],
) -> None:
    _, wheel = dists
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        [metadata] = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = whl.read(metadata).decode("utf-8")
    assert {f"voicing_mcp/examples/{name}" for name in EXAMPLES} <= names
    assert PAGES and set(PAGES) <= names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "prompts/"))]
    assert "License-Expression: MIT" in meta
    for label in ("Homepage", "Repository", "Issues", "Documentation"):
        assert re.search(rf"^Project-URL: {label}, https://github\.com/voicing-ai/voicing-mcp", meta, re.M), label
    assert "Classifier: Topic :: Communications :: Telephony" in meta


def test_the_sdist_and_the_wheel_carry_the_built_apps_views_with_their_licences_and_the_sdist_their_source(
    dists: tuple[Path, Path],
) -> None:
    sdist, wheel = dists
    views = {f"voicing_mcp/pages/apps/{n}" for n in ("campaign.html", "reconcile.html", "THIRD_PARTY_LICENSES.txt")}
    with tarfile.open(sdist) as tar:
        in_sdist = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    with zipfile.ZipFile(wheel) as whl:
        in_wheel = set(whl.namelist())
    assert views <= in_sdist and views <= in_wheel
    assert {"apps/package.json", "apps/package-lock.json", "apps/build.sh", "apps/src/campaign.js"} <= in_sdist
    assert not [n for n in in_sdist | in_wheel if "node_modules" in n]


@pytest.fixture(scope="module")
def installed(dists: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed; its dependencies are this environment's (a path in a .pth file,
    so the editable checkout of this environment is not on the path)."""
    _, wheel = dists
    venv = tmp_path_factory.mktemp("venv") / "v"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=venv.parent)
    python = venv / "bin" / "python"
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(_run([str(python), "-c", purelib], cwd=venv).stdout.strip())
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    _run([*pip, "install", "--no-deps", "--no-index", str(wheel)], cwd=venv)
    return venv


@pytest.fixture
def elsewhere(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """An unrelated working folder, and an environment without VOICING_* settings and with its own state."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICING_")}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    work = tmp_path / "somewhere-else"
    work.mkdir()
    yield work, env


def test_the_installed_wheel_is_the_package_that_runs_not_the_checkout(
    installed: Path, elsewhere: tuple[Path, dict[str, str]]
) -> None:
    work, env = elsewhere
    code = "import voicing_mcp, importlib.metadata as m; print(voicing_mcp.__file__); print(m.version('voicing-mcp'))"
    where, version = _run([str(installed / "bin" / "python"), "-c", code], cwd=work, env=env).stdout.split()
    assert Path(where).is_relative_to(installed) and not Path(where).is_relative_to(ROOT / "voicing_mcp")
    assert version == VERSION


def test_the_installed_demo_runs_every_step_from_another_folder(
    installed: Path, elsewhere: tuple[Path, dict[str, str]]
) -> None:
    work, env = elsewhere
    out = _run([str(installed / "bin" / "voicing-mcp"), "demo"], cwd=work, env=env).stdout
    assert f"All {len(demo.STEPS)} steps passed." in out
    assert list(work.iterdir()) == []  # nothing written into the folder it was started in


def test_the_installed_check_passes_in_local_mode_from_another_folder(
    installed: Path, elsewhere: tuple[Path, dict[str, str]]
) -> None:
    work, env = elsewhere
    done = _run([str(installed / "bin" / "voicing-mcp"), "check"], cwd=work, env=env)
    assert "FAIL" not in done.stdout
    assert re.search(r"^ok\s+prompts", done.stdout, re.M), done.stdout


def test_the_installed_wheel_renders_its_pages_from_the_shipped_templates_autoescaped(
    installed: Path, elsewhere: tuple[Path, dict[str, str]]
) -> None:
    work, env = elsewhere
    code = (
        "import voicing_mcp.pages as p; html, nonce = p.render_page('message.html', title='Hi', message='<b>x</b>', "
        "kind='ok'); print(p.TEMPLATES); print(html)"
    )
    where, page = _run([str(installed / "bin" / "python"), "-c", code], cwd=work, env=env).stdout.split("\n", 1)
    assert Path(where).is_relative_to(installed)
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>" not in page and "<style>" in page


# ----- server.json ----------------------------------------------------------------------------------------------
def test_server_json_names_this_package_at_pyprojects_version_in_the_registrys_format() -> None:
    assert SERVER_JSON["$schema"].startswith("https://static.modelcontextprotocol.io/schemas/")
    assert re.fullmatch(r"[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+", SERVER_JSON["name"])
    assert SERVER_JSON["name"] == "io.github.voicing-ai/voicing-mcp"
    assert 1 <= len(SERVER_JSON["description"]) <= 100  # the schema's bound
    assert SERVER_JSON["version"] == VERSION
    assert SERVER_JSON["repository"] == {"url": PYPROJECT["project"]["urls"]["Repository"], "source": "github"}
    [package] = SERVER_JSON["packages"]
    assert package["registryType"] == "pypi"
    assert package["identifier"] == PYPROJECT["project"]["name"]
    assert package["version"] == VERSION
    assert package["transport"] == {"type": "stdio"}


def test_server_json_offers_only_real_settings_and_marks_the_secret_ones() -> None:
    settings = {f"{ENV_PREFIX}{name}".upper(): field for name, field in Settings.model_fields.items()}
    [package] = SERVER_JSON["packages"]
    offered = {var["name"]: var for var in package["environmentVariables"]}
    assert set(offered) <= set(settings), set(offered) - set(settings)
    assert "VOICING_API_KEY" in offered
    for name, var in offered.items():
        secret = SecretStr in getattr(settings[name].annotation, "__args__", (settings[name].annotation,))
        assert var.get("isSecret", False) is secret, name
        assert var["description"].strip(), name


def test_the_readmes_client_entry_for_uvx_starts_this_repositorys_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Install without cloning", 1)[1].split("\n## ", 1)[0]
    [snippet] = re.findall(r"```json\n(.*?)```", section, re.S)
    entry = json.loads(snippet)["mcpServers"]["voicing"]
    repository = PYPROJECT["project"]["urls"]["Repository"]
    assert entry["command"] == "uvx"
    assert entry["args"] == ["--from", f"git+{repository}", *PYPROJECT["project"]["scripts"]]
    assert f"uvx --from git+{repository} voicing-mcp" in section and f"pipx install git+{repository}" in section
    assert f"mcp-name: {SERVER_JSON['name']}" in readme  # the registry's proof that the PyPI package is ours
