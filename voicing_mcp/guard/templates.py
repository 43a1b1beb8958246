"""Assistant prompt templates: ``<assistant_id>.j2`` files in the prompts folder.

The Voicing API has no endpoint to read an assistant's prompt, so the placeholder check uses
local copies. :class:`TemplateStore` finds a template, reloads it when its file changes, and
lists its inputs with Jinja2's parser (never with regular expressions):

- a name used anywhere without protection is **required**;
- a name whose every use is under a ``default`` filter (``{{ x | default("") }}``) or inside
  an ``{% if x is defined %}`` guard (or the ``else`` of ``is not defined`` / ``is undefined``) is
  **optional**;
- ``{{ a.b }}`` and ``{{ a["b"] }}`` need ``a``;
- loop variables, ``set`` targets, macro arguments and Jinja's globals are not inputs.

Rendering happens in a sandboxed environment with ``StrictUndefined``: a missing value is an
error, never an empty string.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError, nodes
from jinja2.nodes import Node
from jinja2.sandbox import SandboxedEnvironment

from voicing_mcp.errors import VoicingError
from voicing_mcp.paths import read_template_text

_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
SUFFIX = ".j2"


class TemplateProblem(VoicingError):
    """A template cannot be parsed or rendered. The message names the file and, if known, the line."""

    def __init__(self, message: str, *, path: Path, line: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line


@dataclass(frozen=True, slots=True)
class AssistantTemplate:
    """One parsed template. ``required`` and ``optional`` are sorted input names."""

    assistant_id: str
    path: Path
    source: str
    required: list[str]
    optional: list[str]
    _template: Template = field(repr=False, compare=False)

    @property
    def placeholders(self) -> list[str]:
        return sorted({*self.required, *self.optional})

    def render(self, variables: Mapping[str, object]) -> str:
        """Render in the sandbox with strict undefined; raise TemplateProblem naming the file on failure."""
        try:
            return self._template.render(dict(variables))
        except TemplateError as exc:
            raise TemplateProblem(
                f"template {self.path} could not be rendered: {exc.message or type(exc).__name__}", path=self.path
            ) from None
        except (ArithmeticError, TypeError, ValueError, LookupError, AttributeError, RecursionError) as exc:
            # the template's own expressions failing on the given values ({{ amount * 1.2 }} with amount "100")
            raise TemplateProblem(
                f"template {self.path} could not be rendered with these values: {type(exc).__name__}: {exc}",
                path=self.path,
            ) from None


def valid_assistant_id(assistant_id: str) -> bool:
    """True when the id can name a file safely (no separators, no leading dot)."""
    return bool(_SAFE_ID.match(assistant_id)) and ".." not in assistant_id


def _environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


class TemplateStore:
    """The templates of the prompts folder (and, in local mode, of the shipped examples after it), cached and
    reloaded when a file's mtime or size changes.

    ``prompts_dir`` is the user's folder: where a missing template should be put. ``more`` are looked in
    after it, in order; an assistant id found in an earlier folder hides the same id in a later one.
    """

    def __init__(self, prompts_dir: Path, *more: Path) -> None:
        self.prompts_dir = prompts_dir
        self.folders: tuple[Path, ...] = (prompts_dir, *(m for m in more if m != prompts_dir))
        self._env: SandboxedEnvironment | None = None
        self._cache: dict[str, tuple[tuple[str, int, int], AssistantTemplate]] = {}

    @property
    def env(self) -> SandboxedEnvironment:
        if self._env is None:
            self._env = _environment()
        return self._env

    def path_for(self, assistant_id: str) -> Path:
        """Where the template of ``assistant_id`` is (the first folder that has it), or should be put."""
        name = f"{assistant_id}{SUFFIX}"
        for folder in self.folders[1:]:  # only when there are several: one folder costs no file-system look-up
            # anything in the user's folder under that name (even a FIFO or a folder) is theirs: never the example
            if not os.path.lexists(self.prompts_dir / name) and (folder / name).is_file():
                return folder / name
        return self.prompts_dir / name

    def get(self, assistant_id: str) -> AssistantTemplate | None:
        """The template of ``assistant_id``, or None if there is none. Raises TemplateProblem if it does not parse."""
        if not valid_assistant_id(assistant_id):
            return None
        path = self.path_for(assistant_id)
        try:
            st = path.stat()
        except OSError:
            self._cache.pop(assistant_id, None)
            return None
        stamp = (str(path), st.st_mtime_ns, st.st_size)
        cached = self._cache.get(assistant_id)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        template = self._load(assistant_id, path)
        self._cache[assistant_id] = (stamp, template)
        return template

    def list(self) -> list[AssistantTemplate]:
        """Every template in the folders, sorted by assistant id. Raises TemplateProblem for one that does not parse."""
        templates, problems = self.scan()
        if problems:
            raise problems[0]
        return templates

    def ids_in(self, folder: Path) -> list[str]:
        """The assistant ids of the ``<assistant_id>.j2`` files in ``folder`` (sorted; none if it is no folder)."""
        if not folder.is_dir():
            return []
        return sorted(path.name[: -len(SUFFIX)] for path in folder.glob(f"*{SUFFIX}"))

    def scan(self) -> tuple[list[AssistantTemplate], list[TemplateProblem]]:
        """Every template that parses, and a problem for each one that does not (for ``voicing-mcp check``)."""
        templates: list[AssistantTemplate] = []
        problems: list[TemplateProblem] = []
        ids = sorted({assistant_id for folder in self.folders for assistant_id in self.ids_in(folder)})
        for assistant_id in ids:
            try:
                template = self.get(assistant_id)
            except TemplateProblem as exc:
                problems.append(exc)
                continue
            if template is not None:
                templates.append(template)
        return templates, problems

    def _load(self, assistant_id: str, path: Path) -> AssistantTemplate:
        try:
            source = read_template_text(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise TemplateProblem(f"template {path} cannot be read: {exc}", path=path) from None
        try:
            ast = self.env.parse(source, name=assistant_id, filename=str(path))
            compiled = self.env.from_string(source)
        except TemplateSyntaxError as exc:
            raise TemplateProblem(
                f"template {path}, line {exc.lineno}: {exc.message}", path=path, line=exc.lineno
            ) from None
        pulled = next(iter(ast.find_all(_PULLS_IN_ANOTHER_FILE)), None)
        if pulled is not None:
            # the human confirms the opening line shown in the preview: a template must stand alone to be shown
            raise TemplateProblem(
                f"template {path}, line {pulled.lineno}: include, import and extends are not supported; write the "
                "whole prompt in this one file",
                path=path,
                line=pulled.lineno,
            )
        required, optional = analyse(ast, ignore=self.env.globals.keys())
        return AssistantTemplate(
            assistant_id=assistant_id,
            path=path,
            source=source,
            required=required,
            optional=optional,
            _template=compiled,
        )


_PULLS_IN_ANOTHER_FILE = (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)


def placeholders_of(source: str) -> tuple[list[str], list[str]]:
    """``(required, optional)`` input names of a template source (raises jinja2.TemplateSyntaxError)."""
    env = _environment()
    return analyse(env.parse(source), ignore=env.globals.keys())


# ----- the analysis -------------------------------------------------------------------------------


class _Uses:
    def __init__(self) -> None:
        self.guarded: set[str] = set()
        self.unguarded: set[str] = set()


def analyse(ast: Node, *, ignore: Iterable[str] = ()) -> tuple[list[str], list[str]]:
    """Walk a parsed template; return sorted ``(required, optional)`` input names."""
    uses = _Uses()
    _walk(ast, uses, bound=frozenset(ignore), guarded=frozenset())
    required = sorted(uses.unguarded)
    optional = sorted(uses.guarded - uses.unguarded)
    return required, optional


def _defined_tests(test: Node, *, negated: bool = False) -> tuple[set[str], set[str]]:
    """Names proven defined when ``test`` is true, and names proven defined when it is false."""
    if isinstance(test, nodes.Test) and test.name in {"defined", "undefined"}:
        root = _root_name(test.node)
        if root is None:
            return set(), set()
        negated = negated != (test.name == "undefined")  # "a is undefined" is "not (a is defined)"
        return ({root}, set()) if not negated else (set(), {root})
    if isinstance(test, nodes.Not):
        return _defined_tests(test.node, negated=not negated)
    if isinstance(test, nodes.And) and not negated:
        left_true, _ = _defined_tests(test.left)
        right_true, _ = _defined_tests(test.right)
        return left_true | right_true, set()
    if isinstance(test, nodes.Or) and negated:
        # not (a or b) == (not a) and (not b)
        _, left_false = _defined_tests(test.left)
        _, right_false = _defined_tests(test.right)
        return set(), left_false | right_false
    return set(), set()


def _root_name(node: Node) -> str | None:
    while isinstance(node, nodes.Getattr | nodes.Getitem):
        node = node.node
    if isinstance(node, nodes.Name):
        return node.name
    return None


def _targets(node: Node) -> set[str]:
    return {n.name for n in node.find_all(nodes.Name)} | ({node.name} if isinstance(node, nodes.Name) else set())


def _walk_all(items: Iterable[Node], uses: _Uses, bound: frozenset[str], guarded: frozenset[str]) -> frozenset[str]:
    """Walk a statement list in order; ``set`` targets bind names for the statements after them."""
    for item in items:
        _walk(item, uses, bound, guarded)
        if isinstance(item, nodes.Assign | nodes.AssignBlock):
            bound = bound | _targets(item.target)
        elif isinstance(item, nodes.Macro):
            bound = bound | {item.name}
        elif isinstance(item, nodes.FromImport):
            bound = bound | {alias if isinstance(alias, str) else alias[1] for alias in item.names}
        elif isinstance(item, nodes.Import):
            bound = bound | {item.target}
    return bound


def _walk(node: Node, uses: _Uses, bound: frozenset[str], guarded: frozenset[str]) -> None:
    """Record the names ``node`` reads: the first handler for its kind decides, else its children are walked."""
    for kinds, handler in _HANDLERS:
        if isinstance(node, kinds):
            if handler(node, uses, bound, guarded):
                return
            break
    for child in node.iter_child_nodes():
        _walk(child, uses, bound, guarded)


def _name(node: nodes.Name, uses: _Uses, bound: frozenset[str], guarded: frozenset[str]) -> bool:
    if node.ctx == "load" and node.name not in bound:
        (uses.guarded if node.name in guarded else uses.unguarded).add(node.name)
    return True


def _template(node: nodes.Template, uses: _Uses, bound: frozenset[str], guarded: frozenset[str]) -> bool:
    _walk_all(node.body, uses, bound, guarded)
    return True


def _default_filter(node: nodes.Filter, uses: _Uses, bound: frozenset[str], guarded: frozenset[str]) -> bool:
    """``x | default(…)``: ``x`` may be missing; the filter's arguments may not."""
    if node.name not in {"default", "d"} or node.node is None:
        return False
    root = _root_name(node.node)
    _walk(node.node, uses, bound, guarded | {root} if root is not None else guarded)
    for child in (*node.args, *(kw.value for kw in node.kwargs)):
        _walk(child, uses, bound, guarded)
    return True


def _defined_test(node: nodes.Test, uses: _Uses, bound: frozenset[str], guarded: frozenset[str]) -> bool:
    if node.name not in {"defined", "undefined"}:
        return False
    root = _root_name(node.node)
    _walk(node.node, uses, bound, guarded | {root} if root is not None else guarded)
    return True


def _if(node: nodes.If, uses: _Uses, bound: frozenset[str], guarded: frozenset[str]) -> bool:
    when_true, when_false = _defined_tests(node.test)
    _walk(node.test, uses, bound, guarded | when_true)
    _walk_all(node.body, uses, bound, guarded | when_true)
    for elif_node in node.elif_:  # an elif runs only when the test above was false
        _walk(elif_node, uses, bound, guarded | when_false)
    _walk_all(node.else_, uses, bound, guarded | when_false)
    return True


def _cond_expr(node: nodes.CondExpr, uses: _Uses, bound: frozenset[str], guarded: frozenset[str]) -> bool:
    when_true, when_false = _defined_tests(node.test)
    _walk(node.test, uses, bound, guarded | when_true)
    _walk(node.expr1, uses, bound, guarded | when_true)
    if node.expr2 is not None:
        _walk(node.expr2, uses, bound, guarded | when_false)
    return True


def _and(node: nodes.And, uses: _Uses, bound: frozenset[str], guarded: frozenset[str]) -> bool:
    when_true, _ = _defined_tests(node.left)
    _walk(node.left, uses, bound, guarded)
    _walk(node.right, uses, bound, guarded | when_true)
    return True


def _for(node: nodes.For, uses: _Uses, bound: frozenset[str], guarded: frozenset[str]) -> bool:
    _walk(node.iter, uses, bound, guarded)
    inner = bound | _targets(node.target) | {"loop"}
    if node.test is not None:
        _walk(node.test, uses, inner, guarded)
    _walk_all(node.body, uses, inner, guarded)
    _walk_all(node.else_, uses, bound, guarded)
    return True


def _macro(node: nodes.Macro | nodes.CallBlock, uses: _Uses, bound: frozenset[str], guarded: frozenset[str]) -> bool:
    inner = bound | {arg.name for arg in node.args} | {"caller", "varargs", "kwargs"}
    for default in node.defaults:
        _walk(default, uses, bound, guarded)
    if isinstance(node, nodes.CallBlock):
        _walk(node.call, uses, bound, guarded)
    _walk_all(node.body, uses, inner, guarded)
    return True


def _with(node: nodes.With, uses: _Uses, bound: frozenset[str], guarded: frozenset[str]) -> bool:
    for value in node.values:
        _walk(value, uses, bound, guarded)
    inner = bound
    for target in node.targets:
        inner = inner | _targets(target)
    _walk_all(node.body, uses, inner, guarded)
    return True


def _assign(node: nodes.Assign, uses: _Uses, bound: frozenset[str], guarded: frozenset[str]) -> bool:
    _walk(node.node, uses, bound, guarded)
    return True


def _assign_block(node: nodes.AssignBlock, uses: _Uses, bound: frozenset[str], guarded: frozenset[str]) -> bool:
    if node.filter is not None:
        _walk(node.filter, uses, bound, guarded)
    _walk_all(node.body, uses, bound, guarded)
    return True


#: how each kind of node reads names, in the order they are tried; a handler returning False (a filter other
#: than ``default``, a test other than ``defined``) lets the node's children be walked as usual
_HANDLERS: tuple[
    tuple[type[Node] | tuple[type[Node], ...], Callable[[Any, _Uses, frozenset[str], frozenset[str]], bool]], ...
] = (
    (nodes.Name, _name),
    (nodes.Template, _template),
    (nodes.Filter, _default_filter),
    (nodes.Test, _defined_test),
    (nodes.If, _if),
    (nodes.CondExpr, _cond_expr),
    (nodes.And, _and),
    (nodes.For, _for),
    ((nodes.Macro, nodes.CallBlock), _macro),
    (nodes.With, _with),
    (nodes.Assign, _assign),
    (nodes.AssignBlock, _assign_block),
)
