"""voicing_mcp.redact.redact_secret / redact_secret_in: the API key out of third-party text, however spelled."""

from __future__ import annotations

import json
import re
from urllib.parse import quote, quote_plus

from voicing_mcp.redact import contains_secret, redact_secret, redact_secret_in

KEY = "sk-live-Zq9/+k=ey%42 "
#: the URL-encoded key with its %XX escapes in lower case, as some servers write them
LOWER_ESCAPES = re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(KEY, safe=""))


def test_every_spelling_of_the_key_in_an_echo_is_redacted() -> None:
    text = (
        f"raw {KEY}| header x-api-key: {KEY}| url ?k={quote(KEY, safe='')}| lower ?k={LOWER_ESCAPES}"
        f"| form k={quote_plus(KEY)}| json {json.dumps(KEY)}"
    )
    cleaned = redact_secret(text, KEY)
    assert cleaned.count("[redacted]") == 6, cleaned
    assert "Zq9" not in cleaned
    assert contains_secret(text, KEY) and not contains_secret(cleaned, KEY)


def test_text_without_the_key_and_short_or_missing_keys_are_left_alone() -> None:
    assert redact_secret("nothing to see", KEY) == "nothing to see"
    assert redact_secret("abc abc", "abc") == "abc abc"  # too short to search for
    assert redact_secret("abc", None) == "abc"


def test_every_string_of_a_record_is_redacted_keys_included() -> None:
    record = {"call_id": "c1", "debug": {"x-api-key": KEY, KEY: [1, f"k={quote_plus(KEY)}", None]}, "n": 2.5}
    cleaned = redact_secret_in(record, KEY)
    assert cleaned == {
        "call_id": "c1",
        "debug": {"x-api-key": "[redacted]", "[redacted]": [1, "k=[redacted]", None]},
        "n": 2.5,
    }
    assert record["debug"]["x-api-key"] == KEY  # the input is not changed
