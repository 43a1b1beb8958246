"""The fast paths of :mod:`voicing_mcp.redact` give the same answers as the plain definitions they shortcut
(they run on every text of every tool result and every API answer; issue 9, the fast tool path)."""

from __future__ import annotations

import random
import unicodedata

from voicing_mcp.redact import contains_secret, redact_secret, visible

INVISIBLE = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}


def _visible_by_definition(text: str, *, keep_newlines: bool = False) -> str:
    out: list[str] = []
    for ch in text.replace("\r\n", "\n"):
        if ch == "\t":
            out.append(" ")
        elif ch in "\n\r" and keep_newlines:
            out.append("\n")
        elif unicodedata.category(ch) in INVISIBLE:
            out.append(f"<U+{ord(ch):04X}>")
        else:
            out.append(ch)
    return "".join(out)


def test_visible_shows_every_invisible_character_of_the_first_plane_as_its_definition_says() -> None:
    for start in range(0, 0x10000, 256):
        chunk = "".join(chr(c) for c in range(start, start + 256))
        for ch in chunk:
            assert visible(f"a{ch}b") == _visible_by_definition(f"a{ch}b"), hex(ord(ch))
        assert visible(chunk, keep_newlines=True) == _visible_by_definition(chunk, keep_newlines=True)


def test_visible_leaves_printable_text_as_it_is() -> None:
    text = "Hi Ana López, your Gold plan — 20 € — is due. 你好 🙂"
    assert visible(text) is text


def test_contains_secret_says_exactly_when_redact_secret_changes_the_text() -> None:
    rng = random.Random(9)
    secret = "k3y/With+Odd&Chars%2F"
    pieces = [secret, "k3y%2FWith%2BOdd%26Chars%252F", "k3y%2fwith", "k3y\\/With", "k3y/With+Odd&amp;Chars%2F"]
    pieces += ["plain", " ", "%2F", "k3y", "With", "\n"]
    for _ in range(2000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 4)))
        assert contains_secret(text, secret) == (redact_secret(text, secret) != text), text
    assert contains_secret("x-api-key: k3y%2FWith%2BOdd%26Chars%252F", secret)
    assert not contains_secret("nothing here", secret) and not contains_secret("k3y", "k3y")  # too short to search
