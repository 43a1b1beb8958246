"""The emulator's in-memory state (emulator/state.py): the seeded history and the assistants it loads. A call's own
life is pinned in test_calls.py."""

from __future__ import annotations

import os
from pathlib import Path

from voicing_mcp.emulator.state import EmulatorConfig, EmulatorState, load_assistants


def test_the_seeded_history_is_the_same_for_the_same_seed_and_differs_for_another() -> None:
    def ids(seed: int) -> list[str]:
        return [c.call_id for c in EmulatorState(EmulatorConfig(seed=seed, seed_calls=50)).order]

    assert ids(1) == ids(1)
    assert ids(1) != ids(2)
    assert len(set(ids(1))) == 50


def test_the_emulator_skips_a_fifo_named_like_a_template_instead_of_hanging(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "019addcc-b878-7b10-85f1-49f21342f947.j2")
    (tmp_path / "my-assistant.j2").write_text("Hi {{ name }}", encoding="utf-8")
    assert set(load_assistants(tmp_path)) == {"my-assistant"}
