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

A template may give its assistant a human name on its first line, as a Jinja comment (which renders to nothing):
``{# name: Payment reminder #}``. It is the template's :attr:`~AssistantTemplate.display_name`, shown beside the
assistant id (the confirm page, ``list_assistants``); the id stays what a dial names.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from voicing_mcp.errors import VoicingError
from voicing_mcp.paths import read_template_text
from voicing_mcp.redact import one_line

if TYPE_CHECKING:  # jinja2 (~50-140 ms) is imported on the first template parsed, not at start
    from jinja2 import Template
    from jinja2.sandbox import SandboxedEnvironment

_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
SUFFIX = ".j2"
#: the first line ``{# name: Payment reminder #}`` (whitespace control ``{#-``/``-#}`` allowed)
#: (the name holds no ``#}``: a first line ``{# name: A #}{{ x }} #}`` is a comment, then template text)
_NAME_LINE = re.compile(r"\{#-?[ \t]*name[ \t]*:(?P<name>(?:(?!#\})[^\n])*?)-?#\}[ \t]*(?:\r?\n|$)", re.IGNORECASE)
#: the longest display name kept (a longer one is cut with "…")
MAX_DISPLAY_NAME = 80


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
    display_name: str | None = None
    """The assistant's human name from the first line ``{# name: … #}``, made visible and on one line; None if
    the template gives none."""

    @property
    def placeholders(self) -> list[str]:
        return sorted({*self.required, *self.optional})

    def render(self, variables: Mapping[str, object]) -> str:
        """Render in the sandbox with strict undefined; raise TemplateProblem naming the file on failure."""
        from jinja2 import TemplateError  # noqa: PLC0415 (jinja2: on the first template parsed, not at start)

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


def display_name_in(source: str) -> str | None:
    """The human name a template gives on its first line (``{# name: Payment reminder #}``), or None.

    Control and format characters are made visible (:func:`~voicing_mcp.redact.one_line`): the name is shown
    to the human who approves a dial and must not hide or reorder what is next to it."""
    found = _NAME_LINE.match(source.removeprefix("\ufeff"))
    if found is None:
        return None
    name = one_line(" ".join(found.group("name").split()))
    if not name:
        return None
    return name if len(name) <= MAX_DISPLAY_NAME else name[: MAX_DISPLAY_NAME - 1] + "…"


def without_name_line_break(source: str) -> str:
    """``source`` whose name line (if any) also takes its line break when rendered (``{# name: … -#}``), so the
    rendered prompt starts where the text does; the lines keep their numbers (errors name the file's lines)."""
    found = _NAME_LINE.match(source)
    if found is None or found.group(0).rstrip().endswith("-#}"):
        return source
    end = found.group(0).rindex("#}")
    return f"{source[:end]}-{source[end:]}"


def valid_assistant_id(assistant_id: str) -> bool:
    """True when the id can name a file safely (no separators, no leading dot)."""
    return bool(_SAFE_ID.match(assistant_id)) and ".." not in assistant_id


def _environment() -> SandboxedEnvironment:
    from jinja2 import StrictUndefined  # noqa: PLC0415 (jinja2: on the first template parsed, not at start)
    from jinja2.sandbox import SandboxedEnvironment  # noqa: PLC0415 (jinja2: on the first template parsed)

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

    def display_name(self, assistant_id: str) -> str | None:
        """The human name of ``assistant_id``'s template, or None (no template, no name line, or it does not parse:
        the dial says why elsewhere)."""
        try:
            template = self.get(assistant_id)
        except TemplateProblem:
            return None
        return None if template is None else template.display_name

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
        from jinja2 import TemplateSyntaxError  # noqa: PLC0415 (jinja2: on the first template parsed, not at start)

        from voicing_mcp.guard.template_analysis import (  # noqa: PLC0415 (jinja2: on the first template parsed)
            PULLS_IN_ANOTHER_FILE,
            analyse,
        )

        try:
            source = read_template_text(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise TemplateProblem(f"template {path} cannot be read: {exc}", path=path) from None
        try:
            ast = self.env.parse(source, name=assistant_id, filename=str(path))
            compiled = self.env.from_string(without_name_line_break(source))
        except TemplateSyntaxError as exc:
            raise TemplateProblem(
                f"template {path}, line {exc.lineno}: {exc.message}", path=path, line=exc.lineno
            ) from None
        pulled = next(iter(ast.find_all(PULLS_IN_ANOTHER_FILE)), None)
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
            display_name=display_name_in(source),
        )


def placeholders_of(source: str) -> tuple[list[str], list[str]]:
    """``(required, optional)`` input names of a template source (raises jinja2.TemplateSyntaxError)."""
    from voicing_mcp.guard.template_analysis import analyse  # noqa: PLC0415 (jinja2: on the first template parsed)

    env = _environment()
    return analyse(env.parse(source), ignore=env.globals.keys())
