"""server/tools/follow.py: a call's status looked up without raising, and the search for the call an uncertain
dial may have placed, against the emulator over loopback HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from server_support import ASSISTANT, CLINIC
from voicing_mcp.api.client import VoicingClient
from voicing_mcp.api.models import OutboundCallRequest
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.guard.ledger import DialRow
from voicing_mcp.server.render.reconcile_summary import KNOWN_STATUSES
from voicing_mcp.server.tools.follow import current_status, find_uncertain_call

NUMBER = "+17015550188"


def intent(*, created_at: datetime, assistant_id: str = ASSISTANT, number: str = NUMBER) -> DialRow:
    """The ledger's row of a dial whose outcome is unknown (the POST got no answer)."""
    stamp = created_at.isoformat().replace("+00:00", "Z")
    return DialRow(
        id=7,
        created_at=stamp,
        assistant_id=assistant_id,
        phone_e164=number,
        phone_masked="+1701•••0188",
        telephony_provider="default",
        variable_names=["name", "plan_type"],
        confirmation="token",
        environment="local",
        status="unknown",
        call_id=None,
        detail=None,
        updated_at=stamp,
        resolved_at=None,
        resolution=None,
    )


async def dial(client: VoicingClient) -> str:
    request = OutboundCallRequest(
        assistant_id=ASSISTANT, phone_number=NUMBER, input_variables={"name": "Ada", "plan_type": "gold"}
    )
    return (await client.initiate_outbound_call(request)).call_id


async def test_the_call_an_uncertain_dial_placed_is_found_by_number_assistant_and_time(emu: RunningEmulator) -> None:
    before = datetime.now(UTC)
    async with VoicingClient(base_url=emu.base_url, api_key=emu.api_key) as client:
        call_id = await dial(client)
        found = await find_uncertain_call(client, intent(created_at=before))
        other_assistant = await find_uncertain_call(client, intent(created_at=before, assistant_id=CLINIC))
        other_number = await find_uncertain_call(client, intent(created_at=before, number="+17015550199"))
        later_intent = await find_uncertain_call(client, intent(created_at=before + timedelta(hours=1)))
    assert found == call_id
    assert other_assistant is None and other_number is None  # only a positive match lifts the block
    assert later_intent is None  # a call older than the intent is not the one it placed


async def test_a_failed_lookup_keeps_the_block_instead_of_raising(emu: RunningEmulator) -> None:
    async with VoicingClient(base_url=emu.base_url, api_key="not-the-key") as client:
        assert await find_uncertain_call(client, intent(created_at=datetime.now(UTC))) is None
        assert await current_status(client, "call-anything") is None


async def test_the_current_status_is_the_apis_and_none_for_an_unknown_call(emu: RunningEmulator) -> None:
    async with VoicingClient(base_url=emu.base_url, api_key=emu.api_key) as client:
        call_id = await dial(client)
        status = await current_status(client, call_id)
        unknown = await current_status(client, "00000000-0000-0000-0000-000000000000")
    assert status in KNOWN_STATUSES  # whatever stage the emulator's clock has reached
    assert unknown is None
