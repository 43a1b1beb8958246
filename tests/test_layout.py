"""The house rules that keep the package easy to live in: the brief's top level, no import cycles between the
package's modules, and no module over 450 lines unless its docstring says why."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "voicing_mcp"
MAX_LINES = 450


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def _module_level_imports(path: Path, known: dict[str, Path]) -> set[str]:
    """Imports executed when the module loads (not those under ``if TYPE_CHECKING`` / ``__main__`` or inside
    functions, which run later and cannot form an import-time cycle)."""
    targets: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        targets.update(name for name in names if name in known)
    return targets


def test_the_top_level_is_the_one_the_brief_asks_for() -> None:
    for name in ("pyproject.toml", "README.md", "LICENSE", "claude_desktop_config.example.json", "server.json"):
        assert (ROOT / name).is_file(), name
    for name in ("voicing_mcp", "prompts", "tests"):
        assert (ROOT / name).is_dir() and not (ROOT / name).is_symlink(), name
    assert not (ROOT / "src").exists()
    assert (ROOT / "prompts" / "README.md").is_file()
    assert not list((ROOT / "prompts").glob("*.j2")), "prompts/ is the user's: the examples ship in the package"
    assert len(list((PACKAGE / "examples").glob("*.j2"))) >= 3


def test_no_import_cycle_between_the_packages_modules() -> None:
    modules = _modules()
    graph = {name: _module_level_imports(path, modules) - {name} for name, path in modules.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        path.append(name)
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, path)
        path.pop()
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
    assert len(modules) > 40
    assert cycles == []


def test_no_module_is_over_450_lines_unless_its_docstring_says_why() -> None:
    long = {}
    for name, path in _modules().items():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        if lines > MAX_LINES + 5 and "lines" not in docstring:  # ~450: a few lines of slack
            long[name] = lines
    assert long == {}
