"""Argument errors written for the model: one line per bad argument, what was expected and what came.

The SDK validates a tool's arguments with the pydantic model of its signature and, on failure, hands back
pydantic's own report (``1 validation error for list_callsArguments … [type=less_than_equal, …] For further
information visit https://errors.pydantic.dev/…``). :func:`argument_problems` turns that ``ValidationError``
into lines a model acts on::

    limit: at most 100 (got 500)
    phone_number: required
    input_variables: must be an object (got a string)
    call_ids[2]: must not be empty (got '')

and :func:`unknown_arguments` names the arguments the tool does not take (the SDK would drop them in silence),
with a did-you-mean. Values are shown shortened and made visible (a long string by its length, a container
by its kind); the server removes the API key from the final text. No MCP here: the server's ``call_tool``
(:class:`~voicing_mcp.server.app.VoicingServer`) applies it to every tool.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from voicing_mcp.config import did_you_mean
from voicing_mcp.redact import one_line, redact_secret, redact_secret_in

__all__ = ["MAX_LINES", "argument_problems", "shown", "unknown_arguments"]

MAX_LINES = 10
"""Lines named at most (10,000 bad ids are one line each otherwise); the rest are counted."""
MAX_SHOWN = 40
"""Characters of a string value (or argument name) shown; a longer one is cut with an ellipsis."""
_MAX_DIGITS = 30

#: what a type error expects, as a noun phrase (the line says "must be …")
_KINDS = {
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "decimal_type": "a number",
    "decimal_parsing": "a number",
    "finite_number": "a finite number",
    "string_type": "a string",
    "string_unicode": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "an object",
    "mapping_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "dataclass_type": "an object",
    "list_type": "a list",
    "tuple_type": "a list",
    "set_type": "a list",
    "iterable_type": "a list",
    "none_required": "null",
}


def shown(value: object) -> str:
    """``value`` as the model sent it, short: a string quoted (cut at :data:`MAX_SHOWN`, invisible characters
    made visible), a number as itself (a huge integer by its digit count), JSON's true/false/null, a container
    by its kind and size."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        digits = int(value.bit_length() * 0.30103) + 1  # str() of 5,000 digits raises; the count is enough
        return str(value) if digits <= _MAX_DIGITS else f"an integer of about {digits:,} digits"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return repr(_cut(value))
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return f"a list of {len(value):,}"  # pyright: ignore[reportUnknownArgumentType]
    return f"a {type(value).__name__}"


def _kind(value: object) -> str:
    """What a value is, as JSON names it: for a line that says the type was wrong."""
    if value is None or isinstance(value, bool | int | float):
        return shown(value)
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    return shown(value)


def _cut(text: str) -> str:
    text = one_line(text)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def _path(loc: Sequence[int | str], arguments: Mapping[str, Any]) -> str:
    """``call_ids[2]`` or ``input_variables['name']``: the parts of ``loc`` that are real list positions or
    object keys of what was sent; the rest (a union member's or a validator's tag) are pydantic's own."""
    if not loc:
        return "arguments"
    head = str(loc[0])
    parts = [_cut(head)]
    node: object = arguments.get(head)
    for part in loc[1:]:
        if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):  # pyright: ignore[reportUnknownArgumentType]
            parts.append(f"[{part}]")
            node = node[part]  # pyright: ignore[reportUnknownVariableType]
        elif isinstance(node, Mapping) and isinstance(part, str) and part in node:
            parts.append(f"[{_cut(part)!r}]")
            node = node[part]  # pyright: ignore[reportUnknownVariableType]
    return "".join(parts)


def _expected(err: ErrorDetails) -> tuple[str, str | None]:
    """(what was expected, what came) for one pydantic error; ``None`` when nothing came (a missing one)."""
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    if kind == "missing":
        return "required", None
    if kind in _KINDS:
        return f"must be {_KINDS[kind]}", _kind(value)
    bounds = {
        "less_than_equal": ("at most", "le"),
        "greater_than_equal": ("at least", "ge"),
        "less_than": ("less than", "lt"),
        "greater_than": ("more than", "gt"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        return f"{words} {ctx.get(key)}", shown(value)
    if kind == "string_too_short":
        least = int(ctx.get("min_length", 1))
        return ("must not be empty" if least <= 1 else f"at least {least:,} characters"), shown(value)
    if kind == "string_too_long":
        size = len(value) if isinstance(value, str) else None
        return f"at most {int(ctx.get('max_length', 0)):,} characters", (f"{size:,} characters" if size else None)
    if kind in {"too_short", "too_long"}:
        bound = int(ctx.get("min_length" if kind == "too_short" else "max_length", 0))
        words = "at least" if kind == "too_short" else "at most"
        return f"{words} {bound:,} {'item' if bound == 1 else 'items'}", f"{int(ctx.get('actual_length') or 0):,}"
    if kind in {"literal_error", "enum"}:
        return f"must be {ctx.get('expected')}", shown(value)
    if kind in {"value_error", "assertion_error"}:
        return str(ctx.get("error") or err["msg"]), None
    if kind == "string_pattern_mismatch":
        return "not in the expected form", shown(value)
    message = err["msg"]
    return (message[len("Input ") :] if message.startswith("Input ") else message), shown(value)


def _line(path: str, errors: Sequence[ErrorDetails]) -> str:
    """One line for one bad value; several errors at one path are the members of a union, joined with "or"."""
    wanted: list[str] = []
    came: str | None = None
    for err in errors:
        expected, got = _expected(err)
        if expected not in wanted:
            wanted.append(expected)
        came = came or got
    if len(wanted) > 1 and all(w.startswith("must be ") for w in wanted):
        nouns = [w.removeprefix("must be ") for w in wanted]
        if "a number" in nouns and "a whole number" in nouns:
            nouns.remove("a whole number")
        wanted = ["must be " + (", ".join(nouns[:-1]) + " or " + nouns[-1] if len(nouns) > 1 else nouns[0])]
    text = f"{path}: {' or '.join(wanted)}"
    return text if came is None else f"{text} (got {came})"


def argument_problems(error: ValidationError, arguments: Mapping[str, Any], *, secret: str | None = None) -> list[str]:
    """One line per bad argument, or per bad element of a list or object argument, in the order pydantic met
    them; after :data:`MAX_LINES`, one line counting the rest. ``secret`` (the API key) is removed from every
    name and value before they are cut to :data:`MAX_SHOWN`: a cut key would no longer be found in the line."""
    by_path: dict[str, list[ErrorDetails]] = {}
    errors = error.errors(include_url=False)
    if secret:
        arguments = cast("Mapping[str, Any]", redact_secret_in(dict(arguments), secret))
        errors = [_without_secret(err, secret) for err in errors]
    for err in errors:
        by_path.setdefault(_path(err["loc"], arguments), []).append(err)
    lines = [_line(path, errors) for path, errors in by_path.items()]
    return _capped(lines)


def unknown_arguments(
    arguments: Iterable[str], known: Sequence[str], *, tool: str, secret: str | None = None
) -> list[str]:
    """One line per argument name ``tool`` does not take, with the name it most likely meant (else the names
    it takes). Empty when every name is known. ``secret`` is removed from a name before it is cut."""
    names = list(known)
    unknown = [redact_secret(name, secret) for name in arguments if name not in names]
    lines: list[str] = []
    for name in unknown[:MAX_LINES]:  # a did-you-mean only for the names shown
        meant = did_you_mean(name, names)
        hint = f"did you mean {meant}?" if meant else f"its arguments are: {', '.join(names) or 'none'}"
        lines.append(f"{_cut(name)}: not an argument of {tool}; {hint}")
    return _capped(lines + unknown[MAX_LINES:])


def _without_secret(err: ErrorDetails, secret: str) -> ErrorDetails:
    """``err`` with ``secret`` removed from its location, its input and its context."""
    out = cast("ErrorDetails", dict(err))
    out["loc"] = tuple(redact_secret(part, secret) if isinstance(part, str) else part for part in err["loc"])
    out["input"] = redact_secret_in(err.get("input"), secret)
    if "ctx" in err:
        out["ctx"] = cast("dict[str, Any]", redact_secret_in(dict(err["ctx"]), secret))
    return out


def _capped(lines: list[str]) -> list[str]:
    if len(lines) <= MAX_LINES:
        return lines
    return [*lines[: MAX_LINES - 1], f"… and {len(lines) - MAX_LINES + 1:,} more like these"]
