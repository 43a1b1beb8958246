"""Campaigns: many calls, one human approval of an exact list (issue 16). This package is the planner, pure and
MCP-free; the ledger storage, the dispatcher and the tools build on it.

- :mod:`.recipients` — the submitted list: inline rows, or a CSV file inside ``VOICING_CAMPAIGNS_DIR``;
- :mod:`.plan` — every row through the single-call guard's checks: accepted rows, exclusions with reasons,
  counts, and the manifest hash the approval is bound to;
- :mod:`.schedule` — the earliest dial and estimated finish under quiet hours, concurrency and the caps.

Typical use (the tool's side)::

    recipients = recipients_from_list(items)  # or read_recipients_file(name, settings.resolved_campaigns_dir)
    plan = await plan_campaign(recipients, guard=guard, history=LedgerHistory(guard.ledger),
                               assistant_id=assistant_id, max_concurrent=2)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from voicing_mcp.guard.campaigns.plan import (
        CAMPAIGN_WIDE_RULES,
        DUPLICATE_IN_LIST,
        MANIFEST_FORMAT,
        AcceptedRow,
        CampaignPlan,
        DialHistory,
        ExcludedRow,
        LedgerHistory,
        check_rows,
        forget_parsed_numbers,
        manifest_bytes,
        manifest_rows,
        manifest_sha256,
        parse_number_cached,
        plan_campaign,
        zone_label,
    )
    from voicing_mcp.guard.campaigns.recipients import (
        MAX_CSV_BYTES,
        MAX_RECIPIENTS,
        Recipient,
        RecipientsError,
        parse_recipients_csv,
        read_recipients_file,
        recipients_from_list,
        resolve_recipients_file,
    )
    from voicing_mcp.guard.campaigns.schedule import (
        ASSUMED_CALL_SECONDS,
        ScheduleEstimate,
        ScheduleRow,
        estimate_schedule,
        next_window_closing,
        per_number_not_before,
    )

__all__ = [
    "ASSUMED_CALL_SECONDS",
    "CAMPAIGN_WIDE_RULES",
    "DUPLICATE_IN_LIST",
    "MANIFEST_FORMAT",
    "MAX_CSV_BYTES",
    "MAX_RECIPIENTS",
    "AcceptedRow",
    "CampaignPlan",
    "DialHistory",
    "ExcludedRow",
    "LedgerHistory",
    "Recipient",
    "RecipientsError",
    "ScheduleEstimate",
    "ScheduleRow",
    "check_rows",
    "estimate_schedule",
    "forget_parsed_numbers",
    "manifest_bytes",
    "manifest_rows",
    "manifest_sha256",
    "next_window_closing",
    "parse_number_cached",
    "parse_recipients_csv",
    "per_number_not_before",
    "plan_campaign",
    "read_recipients_file",
    "recipients_from_list",
    "resolve_recipients_file",
    "zone_label",
]

#: where each name lives: a name is imported from its module on first use, so importing one light module of the
#: package (``recipients`` for ``MAX_RECIPIENTS``) does not load the planner at start-up
_HOME: dict[str, str] = {
    "CAMPAIGN_WIDE_RULES": "plan",
    "DUPLICATE_IN_LIST": "plan",
    "MANIFEST_FORMAT": "plan",
    "AcceptedRow": "plan",
    "CampaignPlan": "plan",
    "DialHistory": "plan",
    "ExcludedRow": "plan",
    "LedgerHistory": "plan",
    "check_rows": "plan",
    "forget_parsed_numbers": "plan",
    "manifest_bytes": "plan",
    "manifest_rows": "plan",
    "manifest_sha256": "plan",
    "parse_number_cached": "plan",
    "plan_campaign": "plan",
    "zone_label": "plan",
    "MAX_CSV_BYTES": "recipients",
    "MAX_RECIPIENTS": "recipients",
    "Recipient": "recipients",
    "RecipientsError": "recipients",
    "parse_recipients_csv": "recipients",
    "read_recipients_file": "recipients",
    "recipients_from_list": "recipients",
    "resolve_recipients_file": "recipients",
    "ASSUMED_CALL_SECONDS": "schedule",
    "ScheduleEstimate": "schedule",
    "ScheduleRow": "schedule",
    "estimate_schedule": "schedule",
    "next_window_closing": "schedule",
    "per_number_not_before": "schedule",
}


def __getattr__(name: str) -> object:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # once imported, an ordinary attribute
    return value
