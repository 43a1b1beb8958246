"""`voicing-mcp demo` (as a subprocess) shows a confirmed call from preview to completion."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_the_demo_shows_a_refusal_a_preview_a_confirmed_call_followed_to_its_end_and_one_ledger_row(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICING_")}
    proc = subprocess.run(
        [sys.executable, "-m", "voicing_mcp", "demo"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=170,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    step = out[out.index("a call placed through the confirmation flow") :]
    assert "[template-variables]" in step and "Nothing was dialled" in step
    assert "CONFIRMATION REQUIRED" in step and 'Opening line: "Hi Ann, your Gold plan payment is pending."' in step
    assert "no real phone will ring" in step
    assert "(confirmed by token): completed" in step
    assert "sending the same request and token again dials nothing" in step and "[duplicate]" in step
    assert "+1 701 ••• ••23 started" in step
    assert "+17015550123" not in out
