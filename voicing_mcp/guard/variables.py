"""The dial request's values before anything is sent: ids, input variables, and how a preview shows them.

Values are strings, numbers or booleans, capped in number and size; names and values carry no control or
bidi-override character (they could make a preview show something else than what is sent); the body must
encode as JSON. Every refusal is a :class:`~voicing_mcp.errors.GuardRefusal` (``template-variables``,
``control-characters``, ``assistant``, ``provider``), its words written in :mod:`voicing_mcp.messages`.
"""

from __future__ import annotations

import math
import unicodedata
import uuid
from collections.abc import Mapping

from voicing_mcp.api.client import encode_json_body
from voicing_mcp.api.models import OutboundCallRequest
from voicing_mcp.errors import InvalidRequestError
from voicing_mcp.messages import refusal
from voicing_mcp.redact import one_line

MAX_VARIABLES = 50
MAX_KEY_LENGTH = 64
MAX_VALUE_LENGTH = 2000
#: a whole number is sent as its digits: fewer than MAX_VALUE_LENGTH of them, as a text value's characters (a longer
#: one cannot even be written as JSON past Python's 4,300 digits)
INT_LIMIT = 10**MAX_VALUE_LENGTH


def shown_value(value: object) -> str:
    """A variable's value as a preview shows it: strings quoted, with ``"`` and ``\\`` escaped (a value cannot
    fake the next variable) and every control, format or bidi character visible; numbers and booleans as is."""
    if isinstance(value, str):
        return '"' + one_line(value.replace("\\", "\\\\").replace('"', '\\"')) + '"'
    return one_line(repr(value))


def variables_text(variables: Mapping[str, object]) -> str:
    """``name="Ann", plan_type="Gold"``: keys sorted, keys and values made visible."""
    return ", ".join(f"{one_line(k)}={shown_value(v)}" for k, v in sorted(variables.items()))


def check_sendable(req: OutboundCallRequest) -> None:
    """Refuse a request whose body cannot be sent (a non-finite number, text that is not valid Unicode)."""
    try:
        encode_json_body(req.model_dump(mode="json"))
    except InvalidRequestError as exc:
        raise refusal("variables-unsendable", error=exc) from None


def check_ids(assistant_id: str, telephony_provider: str) -> tuple[str, str]:
    """The ids as sent and recorded. An assistant id written as a UUID in any spelling (upper case, braces,
    ``urn:uuid:``, no dashes) is the canonical lower-case dashed UUID: an API that reads it as a UUID takes every
    spelling for the same assistant, so the duplicate rule, the templates and the confirmations must too."""
    a, p = assistant_id.strip(), telephony_provider.strip()
    if not a:
        raise refusal("assistant-empty")
    if not p:
        raise refusal("provider-empty")
    try:
        a = str(uuid.UUID(a))
    except ValueError:
        pass  # not a UUID: kept as given
    return a, p


def check_variables(variables: Mapping[str, object]) -> dict[str, str | int | float | bool]:
    """Values must be strings, numbers or booleans; keys and sizes are capped."""
    if len(variables) > MAX_VARIABLES:
        raise refusal("variables-too-many", count=len(variables), limit=MAX_VARIABLES)
    out: dict[str, str | int | float | bool] = {}
    for key, value in variables.items():
        refuse_hidden_characters(key, value)
        if not key or len(key) > MAX_KEY_LENGTH:
            raise refusal("variable-name-length", name=key[:80], limit=MAX_KEY_LENGTH)
        if not isinstance(value, str | int | float | bool):
            raise refusal("variable-type", name=key, type_name=type(value).__name__)
        if isinstance(value, int) and not isinstance(value, bool) and not -INT_LIMIT < value < INT_LIMIT:
            raise refusal("variable-number-too-long", name=key, limit=MAX_VALUE_LENGTH)
        if isinstance(value, float) and not math.isfinite(value):  # JSON has no NaN/Infinity (1e400 reads as inf)
            raise refusal("variable-not-finite", name=key, value=value)
        if _has_surrogate(key) or (isinstance(value, str) and _has_surrogate(value)):
            raise refusal("variable-surrogate", name=key.encode("utf-8", "backslashreplace").decode())
        if isinstance(value, str) and len(value) > MAX_VALUE_LENGTH:
            raise refusal("variable-too-long", name=key, length=len(value), limit=MAX_VALUE_LENGTH)
        out[key] = value
    return out


#: bidi embeddings, overrides and isolates (LRE RLE PDF LRO RLO, LRI RLI FSI PDI): they reorder what a terminal or
#: a form shows. The marks LRM/RLM/ALM and the joiners (emoji, Indic scripts) are allowed and shown visibly.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def hidden_character(text: str, *, allow_newlines: bool) -> str | None:
    """The first character of ``text`` a call script has no use for, or None: a C0/C1 control (ESC starts an
    ANSI sequence, a lone CR returns to column 0) other than newline, tab and CRLF when ``allow_newlines``, or a
    bidi embedding/override/isolate."""
    for i, ch in enumerate(text):
        if ch in BIDI_CONTROLS:
            return ch
        if unicodedata.category(ch) != "Cc":
            continue
        if allow_newlines and (ch in "\n\t" or (ch == "\r" and text[i + 1 : i + 2] == "\n")):
            continue
        return ch
    return None


def refuse_hidden_characters(key: str, value: object) -> None:
    """Refuse control and bidi-override characters in an input variable's name or (string) value, naming the
    variable and the character; everything else a preview shows is made visible instead."""
    what, ch = "name", hidden_character(key, allow_newlines=False)
    if ch is None and isinstance(value, str):
        what, ch = "value", hidden_character(value, allow_newlines=True)
    if ch is None:
        return
    kind = "a bidi override/isolate" if ch in BIDI_CONTROLS else "a control character"
    raise refusal("variable-hidden-character", part=what, name=one_line(key), code_point=ord(ch), kind=kind)


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in text)
