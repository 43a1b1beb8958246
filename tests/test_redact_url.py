"""Credentials inside VOICING_BASE_URL are never shown."""

from __future__ import annotations

import os
import subprocess
import sys

from voicing_mcp.redact import redact_url


def test_credentials_in_a_url_are_hidden_and_the_rest_kept() -> None:
    assert redact_url("https://bob:hunter2@api.example.test:8443/v1?x=1") == "https://•••@api.example.test:8443/v1?x=1"
    assert redact_url("https://api.voicing.ai") == "https://api.voicing.ai"


def test_check_never_prints_the_password_of_a_base_url() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICING_")}
    env |= {"VOICING_API_KEY": "key-1234567890", "VOICING_BASE_URL": "http://bob:hunter2@127.0.0.1:9"}
    proc = subprocess.run(
        [sys.executable, "-m", "voicing_mcp", "check"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1  # nothing listens on port 9
    assert "•••@127.0.0.1:9" in out
    assert "hunter2" not in out and "key-1234567890" not in out
