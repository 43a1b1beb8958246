"""The emulator over real loopback HTTP (uvicorn on 127.0.0.1, an ephemeral port), with raw httpx.

One emulator per module on its own thread, with a frozen clock (``speed=0``) so that only
``/_emulator/clock/advance`` moves time; every test starts from ``/_emulator/reset``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.emulator.state import EmulatorConfig

KEY = "test-key-123"
GUIDE_ASSISTANT = "019addcc-b878-7b10-85f1-49f21342f947"
PLAIN_ASSISTANT = "019addcc-0000-7000-8000-000000000001"
OPTIONAL_ASSISTANT = "019addcc-0000-7000-8000-000000000002"
DIAL = "/api/v1/campaigns/publish-outbound-call"
DETAILS = "/api/v1/campaigns/get-call-details"
BULK = "/api/v1/campaigns/get-call-details/bulk-by-ids"
SEED_CALLS = 300


@pytest.fixture(scope="module")
def emu_config() -> EmulatorConfig:
    return EmulatorConfig(api_key=KEY, speed=0.0)


@pytest.fixture
def api(emu: RunningEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.base_url, headers={"x-api-key": KEY}, timeout=10) as client:
        assert client.post("/_emulator/reset").status_code == 200
        yield client


def dial_body(number: str = "+17015550123", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "assistant_id": GUIDE_ASSISTANT,
        "phone_number": number,
        "input_variables": {"name": "John Doe", "plan_type": "Premium"},
        "telephony_provider": "default",
    }
    body.update(overrides)
    return body


def dial(api: httpx.Client, number: str = "+17015550123", **overrides: Any) -> str:
    response = api.post(DIAL, json=dial_body(number, **overrides))
    assert response.status_code == 200, response.text
    return str(response.json()["call_id"])


def details(api: httpx.Client, call_id: str) -> dict[str, Any]:
    response = api.get(DETAILS, params={"call_id": call_id})
    assert response.status_code == 200, response.text
    return response.json()


def advance(api: httpx.Client, seconds: float) -> None:
    assert api.post("/_emulator/clock/advance", json={"seconds": seconds}).status_code == 200


def dial_count(api: httpx.Client) -> int:
    return int(api.get("/_emulator/dials").json()["count"])


# ----- dial -------------------------------------------------------------------------------------


def test_dial_answers_the_guides_success_body_and_counts_one_dial(api: httpx.Client) -> None:
    response = api.post(DIAL, json=dial_body())
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "success"
    assert body["message"] == "Outbound call started successfully"
    assert isinstance(body["call_id"], str) and body["call_id"]
    assert api.get("/_emulator/dials").json() == {"count": 1, "calls": [body["call_id"]]}


def test_dial_without_input_variables_is_accepted_for_an_assistant_without_placeholders(api: httpx.Client) -> None:
    body = dial_body(assistant_id=PLAIN_ASSISTANT)
    del body["input_variables"]
    response = api.post(DIAL, json=body)
    assert response.status_code == 200
    assert details(api, response.json()["call_id"])["input_variables"] == {}


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (b"{not json", "Invalid JSON body"),
        (b"", "Invalid JSON body"),
        (b"[1, 2]", "Request body must be a JSON object"),
    ],
)
def test_dial_with_a_body_that_is_not_a_json_object_is_a_400(api: httpx.Client, content: bytes, detail: str) -> None:
    response = api.post(DIAL, content=content, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json() == {"detail": detail}
    assert dial_count(api) == 0


@pytest.mark.parametrize("missing", ["assistant_id", "phone_number", "telephony_provider"])
def test_dial_missing_a_required_field_is_a_400_naming_it(api: httpx.Client, missing: str) -> None:
    body = dial_body()
    del body[missing]
    response = api.post(DIAL, json=body)
    assert response.status_code == 400
    assert response.json() == {"detail": f"Missing required fields: {missing}"}
    assert dial_count(api) == 0


def test_dial_missing_several_fields_names_them_all(api: httpx.Client) -> None:
    response = api.post(DIAL, json={"input_variables": {}})
    assert response.status_code == 400
    assert response.json() == {"detail": "Missing required fields: assistant_id, phone_number, telephony_provider"}


def test_dial_with_wrongly_typed_fields_is_a_400(api: httpx.Client) -> None:
    assert api.post(DIAL, json=dial_body(phone_number=17015550123)).json() == {
        "detail": "phone_number must be a string"
    }
    assert api.post(DIAL, json=dial_body(input_variables=["x"])).json() == {
        "detail": "input_variables must be an object"
    }
    assert dial_count(api) == 0


def test_dial_to_an_unknown_assistant_is_the_guides_404(api: httpx.Client) -> None:
    response = api.post(DIAL, json=dial_body(assistant_id="no-such-assistant"))
    assert response.status_code == 404
    assert response.json() == {"detail": "Assistant with ID no-such-assistant not found"}
    assert dial_count(api) == 0


def test_dial_with_an_unconfigured_telephony_provider_is_a_400(api: httpx.Client) -> None:
    response = api.post(DIAL, json=dial_body(telephony_provider="twilio"))
    assert response.status_code == 400
    assert response.json() == {"detail": "Telephony provider 'twilio' is not configured for this organization"}
    assert dial_count(api) == 0


# ----- auth -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "json"),
    [
        ("POST", DIAL, dial_body()),
        ("GET", DETAILS, None),
        ("GET", f"{DETAILS}/some-id", None),
        ("POST", BULK, {"call_ids": ["x"]}),
    ],
)
@pytest.mark.parametrize("key", [None, "wrong-key", ""])
def test_every_api_path_wants_the_configured_key(
    emu: RunningEmulator, api: httpx.Client, method: str, path: str, json: Any, key: str | None
) -> None:
    headers = {} if key is None else {"x-api-key": key}
    with httpx.Client(base_url=emu.base_url, headers=headers) as anonymous:
        response = anonymous.request(method, path, json=json)
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid API token"}
    assert dial_count(api) == 0


def test_the_key_header_name_is_case_insensitive(emu: RunningEmulator, api: httpx.Client) -> None:
    with httpx.Client(base_url=emu.base_url, headers={"X-API-Key": KEY}) as client:
        assert client.get(DETAILS).status_code == 200


# ----- details ------------------------------------------------------------------------------------


def test_details_by_query_and_by_path_are_the_same_call(api: httpx.Client) -> None:
    call_id = dial(api)
    by_query = details(api, call_id)
    by_path = api.get(f"{DETAILS}/{call_id}").json()
    assert by_query == by_path
    assert by_query["success"] is True
    assert by_query["call_id"] == call_id
    expected_keys = {
        "success",
        "call_id",
        "status",
        "duration",
        "started_at",
        "ended_at",
        "created_at",
        "assistant_id",
        "phone_number",
        "input_variables",
        "telephony_provider",
        "ended_reason",
        "transcript",
    }
    assert set(by_query) == expected_keys
    assert by_query["phone_number"] == "+17015550123"
    assert by_query["assistant_id"] == GUIDE_ASSISTANT
    assert by_query["input_variables"] == {"name": "John Doe", "plan_type": "Premium"}


def test_details_of_an_unknown_call_is_a_404_naming_it(api: httpx.Client) -> None:
    for response in (api.get(DETAILS, params={"call_id": "nope"}), api.get(f"{DETAILS}/nope")):
        assert response.status_code == 404
        assert response.json() == {"detail": "Call with ID nope not found"}


def test_details_with_an_empty_call_id_is_a_422(api: httpx.Client) -> None:
    response = api.get(DETAILS, params={"call_id": " "})
    assert response.status_code == 422
    assert response.json() == {"detail": "call_id must not be empty"}


# ----- lifecycle on the virtual clock ---------------------------------------------------------------


def test_a_new_call_is_queued_then_initiated_then_ringing_then_in_progress_then_completed(api: httpx.Client) -> None:
    call_id = dial(api, "+17015550123")
    seen = [details(api, call_id)]
    for step in [0.5] * 40 + [5] * 60:  # fine steps through dialling, then on past the longest completed call
        advance(api, step)
        seen.append(details(api, call_id))
    statuses = [d["status"] for d in seen]
    order = [s for i, s in enumerate(statuses) if i == 0 or statuses[i - 1] != s]
    assert order == ["queued", "initiated", "ringing", "in-progress", "completed"]
    first = seen[0]
    assert (first["duration"], first["started_at"], first["ended_at"], first["ended_reason"]) == (0, None, None, None)
    assert first["transcript"] == []
    talking = next(d for d in seen if d["status"] == "in-progress")
    assert talking["started_at"] is not None and talking["ended_at"] is None
    final = seen[-1]
    assert final["ended_reason"] == "assistant-ended-call"
    assert final["duration"] > 0
    assert final["ended_at"] > final["started_at"] >= final["created_at"]


def test_the_transcript_opens_with_the_prompt_rendered_from_the_calls_variables(api: httpx.Client) -> None:
    call_id = dial(api, "+17015550123", input_variables={"name": "Ada", "plan_type": "Gold"})
    advance(api, 3600)
    call = details(api, call_id)
    transcript = call["transcript"]
    assert transcript[0] == {"role": "assistant", "text": "Hi Ada, your Gold plan payment is pending.", "t": 0.0}
    assert {line["role"] for line in transcript} == {"assistant", "user"}
    assert [line["t"] for line in transcript] == sorted(line["t"] for line in transcript)
    assert all(line["t"] <= call["duration"] for line in transcript)


def test_the_optional_variable_of_a_template_may_be_left_out(api: httpx.Client) -> None:
    call_id = dial(
        api, "+17015550101", assistant_id=OPTIONAL_ASSISTANT, input_variables={"name": "Bo", "date": "May 2"}
    )
    advance(api, 3600)
    opening = details(api, call_id)["transcript"][0]["text"]
    assert opening == "Hi Bo, this is a reminder of your appointment on May 2. Your clinic is our main clinic."


def test_the_transcript_grows_while_the_call_is_in_progress(api: httpx.Client) -> None:
    call_id = dial(api, "+17015550185")  # long call
    lengths: list[int] = []
    for _ in range(60):
        advance(api, 10)
        call = details(api, call_id)
        if call["status"] == "in-progress":
            lengths.append(len(call["transcript"]))
    assert lengths[0] >= 1
    assert lengths == sorted(lengths)
    assert lengths[-1] > lengths[0]


@pytest.mark.parametrize(
    ("dd", "status", "reason", "answered"),
    [
        ("00", "completed", "assistant-ended-call", True),
        ("39", "completed", "assistant-ended-call", True),
        ("40", "busy", "customer-busy", False),
        ("49", "busy", "customer-busy", False),
        ("50", "no-answer", "customer-did-not-answer", False),
        ("60", "voicemail", "voicemail", True),
        ("70", "failed", "telephony-error", False),
        ("80", "completed", "assistant-ended-call", True),
        ("90", "completed", "customer-ended-call", True),
        ("99", "completed", "customer-ended-call", True),
    ],
)
def test_the_number_picks_the_outcome(api: httpx.Client, dd: str, status: str, reason: str, answered: bool) -> None:
    call_id = dial(api, f"+1212555 01{dd}".replace(" ", ""))
    advance(api, 3600)
    call = details(api, call_id)
    assert (call["status"], call["ended_reason"]) == (status, reason)
    assert call["ended_at"] is not None
    if answered:
        assert call["started_at"] is not None and call["duration"] > 0 and call["transcript"]
    else:
        assert (call["started_at"], call["duration"], call["transcript"]) == (None, 0, [])


def test_a_failed_call_never_rings(api: httpx.Client) -> None:
    call_id = dial(api, "+17015550175")
    statuses: list[str] = []
    for _ in range(10):
        statuses.append(details(api, call_id)["status"])
        advance(api, 1)
    assert "ringing" not in statuses
    assert statuses[-1] == "failed"


def test_a_long_call_outlasts_a_normal_one_and_an_early_hang_up_is_short(api: httpx.Client) -> None:
    normal, long, early = dial(api, "+17015550110"), dial(api, "+17015550185"), dial(api, "+17015550195")
    advance(api, 3600)
    d = {name: details(api, cid)["duration"] for name, cid in (("normal", normal), ("long", long), ("early", early))}
    assert d["early"] < 10 < d["normal"] <= 240 < 360 <= d["long"]


def test_numbers_outside_the_fictional_range_complete(api: httpx.Client) -> None:
    ids = [dial(api, n) for n in ("+17018112582", "+919876543210", "7015550145")]
    advance(api, 3600)
    assert [details(api, i)["status"] for i in ids] == ["completed", "completed", "busy"]


def test_the_same_id_always_gets_the_same_timings(api: httpx.Client) -> None:
    seeded = api.get(DETAILS, params={"limit": 5}).json()["data"]
    api.post("/_emulator/reset")
    again = api.get(DETAILS, params={"limit": 5}).json()["data"]
    assert [c["call_id"] for c in seeded] == [c["call_id"] for c in again]
    assert [c["duration"] for c in seeded] == [c["duration"] for c in again]


def test_clock_advance_rejects_a_negative_or_missing_number(api: httpx.Client) -> None:
    for body in ({"seconds": -1}, {}, {"seconds": "5"}):
        response = api.post("/_emulator/clock/advance", json=body)
        assert response.status_code == 400


# ----- list -------------------------------------------------------------------------------------------


def test_the_list_holds_the_seeded_history_with_page_metadata(api: httpx.Client) -> None:
    body = api.get(DETAILS, params={"page": 1, "limit": 100}).json()
    assert body["success"] is True
    assert (body["page"], body["limit"], body["total"], body["total_pages"], body["has_next"]) == (
        1,
        100,
        SEED_CALLS,
        3,
        True,
    )
    assert len(body["data"]) == 100
    assert "transcript" not in body["data"][0]
    created = [c["created_at"] for c in body["data"]]
    assert created == sorted(created, reverse=True)


def test_the_list_defaults_to_page_1_of_20(api: httpx.Client) -> None:
    body = api.get(DETAILS).json()
    assert (body["page"], body["limit"], len(body["data"])) == (1, 20, 20)


def test_paging_through_the_list_visits_every_call_once_newest_first(api: httpx.Client) -> None:
    new_id = dial(api)
    seen: list[str] = []
    page = 1
    while True:
        body = api.get(DETAILS, params={"page": page, "limit": 70}).json()
        seen += [c["call_id"] for c in body["data"]]
        if not body["has_next"]:
            break
        page += 1
    assert page == body["total_pages"] == 5
    assert len(seen) == len(set(seen)) == SEED_CALLS + 1
    assert seen[0] == new_id
    assert len(body["data"]) == (SEED_CALLS + 1) % 70


def test_a_page_past_the_end_is_empty(api: httpx.Client) -> None:
    body = api.get(DETAILS, params={"page": 99, "limit": 100}).json()
    assert (body["data"], body["has_next"], body["total"]) == ([], False, SEED_CALLS)


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"limit": 0}, "limit must be an integer between 1 and 100"),
        ({"limit": 101}, "limit must be an integer between 1 and 100"),
        ({"limit": "ten"}, "limit must be an integer between 1 and 100"),
        ({"page": 0}, "page must be an integer of at least 1"),
        ({"page": "x"}, "page must be an integer of at least 1"),
        ({"status": "exploded"}, None),
    ],
)
def test_list_parameters_out_of_bounds_are_a_422(api: httpx.Client, params: dict[str, Any], detail: str | None) -> None:
    response = api.get(DETAILS, params=params)
    assert response.status_code == 422
    if detail is not None:
        assert response.json() == {"detail": detail}
    else:
        assert response.json()["detail"].startswith("status must be one of: queued, initiated")


def test_the_limit_bounds_1_and_100_are_allowed(api: httpx.Client) -> None:
    assert len(api.get(DETAILS, params={"limit": 1}).json()["data"]) == 1
    assert len(api.get(DETAILS, params={"limit": 100}).json()["data"]) == 100


def test_the_list_filters_by_status_and_assistant(api: httpx.Client) -> None:
    busy = api.get(DETAILS, params={"status": "busy", "limit": 100}).json()
    assert busy["total"] > 0
    assert {c["status"] for c in busy["data"]} == {"busy"}
    mine = dial(api, assistant_id=PLAIN_ASSISTANT)
    plain = api.get(DETAILS, params={"assistant_id": PLAIN_ASSISTANT, "limit": 100}).json()
    assert {c["assistant_id"] for c in plain["data"]} == {PLAIN_ASSISTANT}
    assert plain["data"][0]["call_id"] == mine
    queued = api.get(DETAILS, params={"status": "queued"}).json()
    assert [c["call_id"] for c in queued["data"]] == [mine]


# ----- bulk -------------------------------------------------------------------------------------------


def test_bulk_returns_known_ids_in_request_order_and_leaves_unknown_ones_out(api: httpx.Client) -> None:
    ids = [c["call_id"] for c in api.get(DETAILS, params={"limit": 5}).json()["data"]]
    asked = [ids[3], "unknown-1", ids[0], ids[4], "unknown-2", ids[1]]
    response = api.post(BULK, json={"call_ids": asked})
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert [c["call_id"] for c in body["data"]] == [ids[3], ids[0], ids[4], ids[1]]
    assert {"status", "duration", "started_at", "ended_at"} <= set(body["data"][0])


def test_bulk_answers_a_repeated_id_once(api: httpx.Client) -> None:
    call_id = dial(api)
    body = api.post(BULK, json={"call_ids": [call_id, call_id]}).json()
    assert [c["call_id"] for c in body["data"]] == [call_id]


def test_bulk_of_only_unknown_ids_is_an_empty_success(api: httpx.Client) -> None:
    assert api.post(BULK, json={"call_ids": ["a", "b"]}).json() == {"success": True, "data": []}


def test_bulk_takes_100_ids_and_refuses_101(api: httpx.Client) -> None:
    ids = [c["call_id"] for c in api.get(DETAILS, params={"limit": 100}).json()["data"]]
    assert len(api.post(BULK, json={"call_ids": ids}).json()["data"]) == 100
    response = api.post(BULK, json={"call_ids": [*ids, "one-more"]})
    assert response.status_code == 400
    assert response.json() == {"detail": "call_ids may hold at most 100 ids (got 101)"}


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({}, "Missing required field: call_ids"),
        ({"call_ids": []}, "call_ids must be a non-empty list of strings"),
        ({"call_ids": "abc"}, "call_ids must be a non-empty list of strings"),
        ({"call_ids": [1, 2]}, "call_ids must be a non-empty list of strings"),
        ([], "Missing required field: call_ids"),
    ],
)
def test_bulk_with_a_bad_call_ids_field_is_a_400(api: httpx.Client, body: Any, detail: str) -> None:
    response = api.post(BULK, json=body)
    assert response.status_code == 400
    assert response.json() == {"detail": detail}


def test_bulk_with_invalid_json_is_a_400(api: httpx.Client) -> None:
    response = api.post(BULK, content=b"{", headers={"content-type": "application/json"})
    assert (response.status_code, response.json()) == (400, {"detail": "Invalid JSON body"})


# ----- unknown paths ------------------------------------------------------------------------------------


def test_unknown_paths_and_methods_answer_with_a_detail_body(api: httpx.Client) -> None:
    missing = api.get("/api/v1/campaigns/nothing-here")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Not Found"})
    wrong = api.get(DIAL)
    assert (wrong.status_code, wrong.json()) == (405, {"detail": "Method Not Allowed"})


@pytest.mark.parametrize("seconds", [1e308, 315_576_001, -1, "NaN"])
def test_an_absurd_clock_jump_is_refused_and_the_emulator_keeps_answering(api: httpx.Client, seconds: Any) -> None:
    content = json.dumps({"seconds": float(seconds) if seconds == "NaN" else seconds})  # NaN as JSON's NaN literal
    refused = api.post("/_emulator/clock/advance", content=content, headers={"content-type": "application/json"})
    assert refused.status_code == 400 and "seconds" in refused.json()["detail"]
    assert api.get("/_emulator/health").status_code == 200
    call_id = dial(api)
    assert details(api, call_id)["call_id"] == call_id


def test_the_clock_cannot_be_pushed_past_the_year_9999_step_by_step(api: httpx.Client) -> None:
    jumps = 0
    while (response := api.post("/_emulator/clock/advance", json={"seconds": 315_576_000})).status_code == 200:
        jumps += 1
        assert jumps < 1_000
    assert response.status_code == 400 and "year 9999" in response.json()["detail"]
    assert api.get("/_emulator/health").status_code == 200
    assert api.get(DETAILS, params={"page": 1, "limit": 5}).status_code == 200


@pytest.mark.parametrize("path", [DIAL, BULK])
def test_json_nested_too_deep_to_decode_is_the_documented_400_and_nothing_is_dialled(
    api: httpx.Client, path: str
) -> None:
    deep = '{"call_ids": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = api.post(path, content=deep, headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.json() == {"detail": "Invalid JSON body"}
    assert dial_count(api) == 0
