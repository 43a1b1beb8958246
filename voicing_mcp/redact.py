"""Masking for logs: phone numbers are never logged in full, secrets never at all."""

from __future__ import annotations

import functools
import logging
import re
import unicodedata

_DIGITS = re.compile(r"\d")


def mask_number(number: str) -> str:
    """``+17018112582`` → ``+1 701 ••• ••82``: country code and area kept, the rest hidden but the last two."""
    raw = "".join(ch for ch in number if ch.isdigit())
    if not raw:
        return "•••"
    if number.strip().startswith("+") and len(raw) >= 8:
        cc_len = 1 if raw[0] in "17" else 2
        cc, rest = raw[:cc_len], raw[cc_len:]
        head, tail = rest[:3], rest[-2:]
        hidden = len(rest) - len(head) - len(tail)
        masked = "•" * hidden
        return f"+{cc} {head} {masked[:3]} {masked[3:]}{tail}".replace("  ", " ")
    return "•" * max(len(raw) - 2, 1) + raw[-2:]


# A phone number as it may appear inside a log message: E.164 (+17018112582) or a national digit run
# (4155550123, 415-555-0123, (415) 555 0123). Digit runs inside ids, dates, times and addresses are left
# alone: a run glued to a letter, '-', ':', '.' or '/' on either side is not taken for a number, nor is a
# YYYY-MM-DD date.
_NUMBER_IN_TEXT = re.compile(r"(?<![\w\-:./+])(?!\d{4}-\d\d-\d\d\b)(?:\+|\()?\d(?:[ \-()]{0,2}\d){6,16}(?![\w\-:./])")


def mask_numbers_in(text: str) -> str:
    """Every phone number found in ``text`` masked with :func:`mask_number`."""
    return _NUMBER_IN_TEXT.sub(lambda m: mask_number(m.group(0)), text)


class MaskNumbersFilter(logging.Filter):
    """A handler filter that masks phone numbers in every record, whoever logged it (the SDK logs the text
    of a failed tool call, which may quote the number the model asked to dial)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_numbers_in(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class RedactSecretFilter(logging.Filter):
    """A handler filter that removes a secret (the API key) from every record, whoever logged it: the SDK logs a
    failed tool call's text, the arguments it rejected and a failed resource's URI, any of which may quote it."""

    def __init__(self, secret: str | None) -> None:
        super().__init__()
        self._secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secret:
            return True
        message = record.getMessage()
        redacted = redact_secret(message, self._secret)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


#: a page's address (a confirm page ``/confirm/<id>``, a campaign's approval page ``/campaign/<id>`` or dashboard
#: ``/dashboard/<id>``; also URL- or JSON-escaped): only the human may have it. The SDK's transports log whole
#: messages at DEBUG, the URL-mode elicitation that carries it to the human included.
_CONFIRM_LINK = re.compile(r"((?:confirm|campaign|dashboard)(?:/|\\/|%2[fF]))[A-Za-z0-9_\-]{16,}")
_PAGE_KINDS = ("confirm", "campaign", "dashboard")
HIDDEN_LINK = "<hidden>"


def hide_confirm_links(text: str) -> str:
    """``text`` with the secret id of every page address (confirm, campaign approval, dashboard) replaced by
    ``<hidden>``."""
    if not any(kind in text for kind in _PAGE_KINDS):
        return text
    return _CONFIRM_LINK.sub(lambda m: m.group(1) + HIDDEN_LINK, text)


class SafeFormatter(logging.Formatter):
    """A formatter whose lines (message, traceback and stack included) never carry a confirm page's address:
    a model that can read the server's log (a shell or file tool) must not find the link and click it."""

    def format(self, record: logging.LogRecord) -> str:
        return hide_confirm_links(super().format(record))


def redact_url(url: str) -> str:
    """``https://user:secret@host/path`` → ``https://•••@host/path``: credentials in a URL are never shown."""
    # urllib.parse, json and html (~10 ms together, a quarter of `import voicing_mcp.cli`) stay off the path
    # of `voicing-mcp --version` and `--help`, which import this module for the log formatter
    from urllib.parse import urlsplit, urlunsplit  # noqa: PLC0415 (urllib.parse ~4 ms: off --version's path)

    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unreadable URL>"
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"•••@{host}"))


def redact_dsn(url: str) -> str:
    """A database address for a person, every password in it masked however it is spelled.

    ``postgresql://user:pw@host/db?password=pw`` → ``postgresql://•••@host/db?password=•••``. The userinfo is
    masked up to the LAST ``@`` (a generated password may hold an unencoded ``/``, ``@``, ``+``, ``=``, ``#``,
    ``?`` or ``:``; which ``@`` ends it is not knowable, so everything before the last one is hidden), a
    ``password=`` or ``sslpassword=`` query value to the end of the text (it may hold an ``&``), and in a
    ``key=value`` conninfo string (``host=db password='s e cret'``) each password value, quoted or not.
    """
    # the password= values first (sslpassword: libpq's passphrase of the client's TLS key, as secret as the
    # password): one holding an '@' would otherwise be taken for the end of a userinfo, and its tail shown
    shown = _CONNINFO_PASSWORD.sub(r"\1•••", _QUERY_PASSWORD.sub(r"\1•••", url))
    found = _DSN_USERINFO.match(shown)
    if found is not None:
        return f"{found[1]}•••@{found[2]}"
    if "@" in shown:  # no scheme (``user:pw@host/db``) or a slash missing (``postgresql:/user:pw@host``)
        return "•••@" + shown.rsplit("@", 1)[1]
    return shown


#: scheme:// (or scheme:/ with a slash missing), then the userinfo up to the last '@', then the rest
_DSN_USERINFO = re.compile(r"(?s)^([A-Za-z][A-Za-z0-9+.-]*:/{1,2})(?:.*)@(.*)$")
#: ``?password=`` / ``&sslpassword=`` in a URL: the value to the end (an unencoded '&' or '#' may be part of it)
_QUERY_PASSWORD = re.compile(r"(?is)([?&](?:ssl)?password=).+")
#: ``password = value`` in a conninfo string: a quoted value ('…', backslash escapes) or up to the next space
_CONNINFO_PASSWORD = re.compile(r"(?is)(\b(?:ssl)?password\s*=\s*)(?!•••)('(?:[^'\\]|\\.)*'?|\S+)")


#: where libpq (or a person's reading) may cut a password that holds them unencoded
_DSN_CUTS = re.compile(r"[/@:?#&,=+\s]")


def dsn_secrets(url: str) -> list[str]:
    """Every password a database address may carry, under each reading, with the pieces an error may quote.

    The ``user:password`` before the first ``@`` (libpq's reading) and before the last ``@`` (a password holding
    ``/`` or ``@`` unencoded), ``password=``/``sslpassword=`` values of a URL query or a conninfo string, and of
    each the parts between ``/ @ : ? # & , = +`` (libpq's message about such a URL quotes the piece it could not
    read, e.g. ``invalid integer value "Kq9+Zt3" for connection option "port"``).
    """
    userinfo = re.match(r"(?s)^[A-Za-z][A-Za-z0-9+.-]*:/{0,2}(.*)@", url)
    first = re.match(r"(?s)^[A-Za-z][A-Za-z0-9+.-]*:/{0,2}([^/@]*)@", url)
    found = [info[1].split(":", 1)[1] for info in (userinfo, first) if info is not None and ":" in info[1]]
    to_the_end: list[str] = []
    query = r"[?&](?:ssl)?password=([^&]+)(?=(.*))"
    conninfo = r"(?:^|\s)(?:ssl)?password\s*=\s*('(?:[^'\\]|\\.)*'?|\S+)(?=(.*))"
    for found_at in re.finditer(f"(?is){query}|{conninfo}", url):
        written, rest = (found_at[1], found_at[2]) if found_at[1] is not None else (found_at[3], found_at[4])
        value = written
        if value.startswith("'"):  # a quoted conninfo value: its backslash escapes read as libpq reads them
            value = re.sub(r"\\(.)", r"\1", value[1:].removesuffix("'"))
        found += [value, written]
        to_the_end.append(written + rest)  # an unencoded '&' in a query password: the rest is its tail
    pieces = [piece for secret in found for piece in _DSN_CUTS.split(secret)]
    return sorted(dict.fromkeys(s for s in [*to_the_end, *found, *pieces] if s), key=len, reverse=True)


#: a value an error quotes: ``host 'x'``, ``value "x"``
_QUOTED = re.compile(r"""(['"])((?:(?!\1).){1,64})\1""")


def mask_quoted_pieces(text: str, secrets: list[str]) -> str:
    """``text`` with every quoted value that is a piece of one of ``secrets`` masked: a piece too short to
    search for in free text (``'9k'`` of ``Pw…@9k``, taken by libpq for a host after an unencoded '@')."""

    def mask(found: re.Match[str]) -> str:
        piece = found[2]
        return f"{found[1]}•••{found[1]}" if any(piece in secret for secret in secrets) else found[0]

    return _QUOTED.sub(mask, text) if secrets else text


# ----- third-party and model-supplied text shown to a person or the model -------------------------
#: characters that change how text *looks* without being visible: C0/C1 controls (ANSI escapes start with
#: ESC), bidi overrides and isolates, zero-width and other format characters (Unicode category Cc/Cf),
#: line and paragraph separators (Zl/Zp). A terminal or a form shows something else than what is sent.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


def visible(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every control, format or bidi character made visible as ``<U+XXXX>``.

    Tabs become one space. Newlines are shown as ``<U+000A>`` unless ``keep_newlines`` (then ``\\r\\n``
    and ``\\r`` become ``\\n``). What a human reads in a preview is then what is sent: an ANSI escape or a
    right-to-left override cannot make ``+1 701 555 0199`` look like another number.
    """
    if text.isprintable():  # no control, format, separator or unassigned character (nor a tab or newline)
        return text  # the common case, without a category lookup per character
    out: list[str] = []
    text = text.replace("\r\n", "\n")
    for ch in text:
        if ch == "\t":
            out.append(" ")
        elif ch in "\n\r" and keep_newlines:
            out.append("\n")
        elif unicodedata.category(ch) in _INVISIBLE_CATEGORIES:
            out.append(f"<U+{ord(ch):04X}>")
        else:
            out.append(ch)
    return "".join(out)


def one_line(text: str) -> str:
    """``text`` made visible and kept on one line: a third-party string cannot start a line of its own
    (a newline in an ``ended_reason`` would otherwise read as the server's own next line)."""
    return visible(text, keep_newlines=False)


# ----- the API key in third-party text ------------------------------------------------------------
REDACTED = "[redacted]"
#: shorter secrets are not searched for: they would match ordinary text
_MIN_SECRET = 4


@functools.lru_cache(maxsize=8)
def _secret_forms(secret: str) -> tuple[str, ...]:
    """The spellings under which a secret comes back in an echo: as is, URL-encoded (``%2F`` / ``+``),
    JSON-escaped, HTML-escaped."""
    import html  # noqa: PLC0415 (html ~2 ms: off --version's path, see redact_url)
    import json  # noqa: PLC0415 (json ~3 ms: off --version's path)
    from urllib.parse import quote, quote_plus  # noqa: PLC0415 (urllib.parse: off --version's path)

    forms = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1], html.escape(secret)}
    return tuple(sorted((f for f in forms if f), key=len, reverse=True))


@functools.lru_cache(maxsize=32)
def _percent_pattern(form: str) -> re.Pattern[str]:
    return re.compile(_percent_insensitive(form))


def redact_secret(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` replaced by ``[redacted]``.

    Also the URL-encoded (either case of the ``%XX`` escapes), JSON-escaped and HTML-escaped spellings, so a
    proxy or an API that echoes the request (a header dump ``x-api-key: …``, a URL ``?api_key=…``) cannot
    carry the key to the model, a log or the ledger. Secrets shorter than 4 characters are not searched.
    """
    if not secret or len(secret) < _MIN_SECRET or not text:
        return text
    for form in _secret_forms(secret):
        if "%" in form:
            text = _percent_pattern(form).sub(REDACTED, text)
        else:
            text = text.replace(form, REDACTED)
    return text


def _percent_insensitive(form: str) -> str:
    """A regex for ``form`` whose ``%XX`` escapes match in either case."""
    parts = re.split(r"(%[0-9A-Fa-f]{2})", form)
    return "".join(f"%(?i:{p[1:]})" if p.startswith("%") and len(p) == 3 else re.escape(p) for p in parts)


def redact_secret_in(value: object, secret: str | None) -> object:
    """``value`` (JSON-like: dicts, lists, strings) with :func:`redact_secret` applied to every string in
    it, keys included; other values unchanged. Returns the same object when nothing changed."""
    if not secret or len(secret) < _MIN_SECRET:
        return value
    if isinstance(value, str):
        return redact_secret(value, secret)
    if isinstance(value, dict):
        items = [(redact_secret_in(k, secret), redact_secret_in(v, secret)) for k, v in value.items()]  # pyright: ignore[reportUnknownVariableType]
        return dict(items)  # pyright: ignore[reportUnknownArgumentType]
    if isinstance(value, list | tuple):
        out = [redact_secret_in(v, secret) for v in value]  # pyright: ignore[reportUnknownVariableType]
        return out if isinstance(value, list) else tuple(out)
    return value


def contains_secret(text: str, secret: str | None) -> bool:
    """True when :func:`redact_secret` would change ``text``."""
    if not secret or len(secret) < _MIN_SECRET or not text:
        return False
    # the same answer as redact_secret(text) != text (it changes the text exactly when a form occurs in it),
    # without building the redacted copy: every API answer is checked
    return any(_percent_pattern(f).search(text) if "%" in f else f in text for f in _secret_forms(secret))
