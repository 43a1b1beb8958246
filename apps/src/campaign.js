// The campaign view: campaign_status's result as a person reads it — progress, counts by state, the last rows
// that changed, why it paused, when the next dial is due — refreshed by calling campaign_status through the host,
// with Pause and Cancel (the app-only tools app_pause_campaign / app_cancel_campaign). Nothing here approves,
// starts, resumes or widens a campaign: the human approves on the approval page, the model resumes.
import { barChart, connectView, el, firstSentence, fmtInt, fmtTime, onWidthChange, textOf, widthOf } from "./common.js";

const REFRESH_MS = 2000;
const ACTIVE = new Set(["awaiting_approval", "scheduled", "running", "paused"]);
const PAUSABLE = new Set(["scheduled", "running"]);
const CANCELLABLE = new Set(["scheduled", "running", "paused"]);
const OUTCOMES = ["completed", "voicemail", "busy", "no_answer", "failed", "unknown"];
const OUTCOME_CLASS = { completed: "ok", voicemail: "warn", busy: "warn", no_answer: "warn", failed: "bad", unknown: "bad" };

const $ = (id) => document.getElementById(id);
let app;
let campaignId = null;
let status = null;
let timer = null;
let busy = false;
let last = null;

function label(state) {
  return state.replace(/_/g, " ");
}

function note(text, isError) {
  const box = $("note");
  box.textContent = text || "";
  box.hidden = !text;
  box.classList.toggle("error", Boolean(isError));
}

function render(data) {
  last = data;
  campaignId = data.campaign_id;
  status = data.status;
  $("empty").hidden = true;
  $("view").hidden = false;
  $("title").textContent = data.name ? `${data.name}` : `Campaign ${data.campaign_id}`;
  $("cid").textContent = data.campaign_id;
  const badge = $("status");
  badge.textContent = label(data.status);
  badge.className = `badge s-${data.status}`;
  const total = data.total || 0;
  const done = data.done || 0;
  const pct = total ? Math.floor((done * 100) / total) : 0;
  $("bar").style.width = `${pct}%`;
  const progress = $("progress");
  progress.setAttribute("aria-valuenow", String(pct));
  progress.setAttribute("aria-valuetext", `${done} of ${total} rows done`);
  $("done").textContent = `${fmtInt(done)} of ${fmtInt(total)} rows done (${pct}%)`;
  const next = data.next_dial_at ? `Next dial: ${fmtTime(data.next_dial_at)}` : "No dial due";
  const expires = data.approval_expires_at ? ` · approval holds until ${fmtTime(data.approval_expires_at)}` : "";
  $("next").textContent = `${next}${expires}`;
  const paused = $("paused");
  paused.hidden = !data.pause_reason || data.status !== "paused";
  paused.textContent = data.pause_reason ? `Paused: ${data.pause_reason}` : "";
  if (data.status === "awaiting_approval") {
    note("This campaign awaits the human's approval on its approval page; nothing has been dialled. This view cannot approve it.");
  }

  const counts = data.counts || {};
  const grid = $("counts");
  grid.replaceChildren(
    ...Object.entries(counts).map(([state, n]) =>
      el("div", { class: n ? "" : "zero", "data-state": state }, el("dt", {}, label(state)), el("dd", {}, fmtInt(n))),
    ),
  );
  drawChart(counts);

  const recent = data.recent || [];
  $("recent-empty").hidden = recent.length > 0;
  $("recent-table").hidden = recent.length === 0;
  $("recent").replaceChildren(
    ...recent.map((r) =>
      el(
        "tr",
        {},
        el("td", { class: "num" }, r.position),
        el("td", {}, r.phone_number),
        el("td", {}, label(r.state)),
        el("td", {}, r.last_outcome || r.exclusion_reason || ""),
        el("td", { class: "num" }, r.attempts),
        el("td", {}, r.call_id || ""),
        el("td", {}, fmtTime(r.changed_at)),
      ),
    ),
  );
  $("summary").textContent = data.summary || "";
  $("pause").disabled = busy || !PAUSABLE.has(data.status);
  $("cancel").disabled = busy || !CANCELLABLE.has(data.status);
  if (!CANCELLABLE.has(data.status)) $("confirm").hidden = true;
  $("updated").textContent = `Updated ${new Date().toLocaleTimeString()}`;
  schedule();
}

function drawChart(counts) {
  const box = $("chart");
  box.replaceChildren(
    barChart(
      "Outcomes",
      OUTCOMES.map((s) => [label(s), counts[s] || 0]),
      (l) => OUTCOME_CLASS[l.replace(/ /g, "_")] || "",
      widthOf(box),
    ),
  );
}

function schedule() {
  if (timer !== null) clearTimeout(timer);
  timer = null;
  if (campaignId && ACTIVE.has(status)) timer = setTimeout(refresh, REFRESH_MS);
}

async function refresh() {
  if (!campaignId || !app) return;
  try {
    const result = await app.callServerTool({ name: "campaign_status", arguments: { campaign_id: campaignId } });
    if (result.isError) {
      note(textOf(result), true);
      schedule();
    } else if (result.structuredContent) {
      render(result.structuredContent);
    }
  } catch (err) {
    note(`Could not refresh: ${err && err.message ? err.message : err}`, true);
    schedule();
  }
}

async function act(tool, doing) {
  if (!campaignId || busy) return;
  busy = true;
  $("pause").disabled = true;
  $("cancel").disabled = true;
  $("confirm").hidden = true;
  note(doing);
  try {
    const result = await app.callServerTool({ name: tool, arguments: { campaign_id: campaignId } });
    note(result.isError ? textOf(result) : firstSentence(textOf(result)), result.isError);
  } catch (err) {
    note(`The host did not pass the request on: ${err && err.message ? err.message : err}`, true);
  } finally {
    busy = false;
    await refresh();
  }
}

function onResult(params) {
  if (params.isError) {
    note(textOf(params), true);
    return;
  }
  const data = params.structuredContent;
  if (data && data.counts && data.campaign_id) render(data);
  else if (data && data.campaign_id) {
    campaignId = data.campaign_id;
    refresh();
  }
}

async function main() {
  $("pause").addEventListener("click", () => act("app_pause_campaign", "Pausing…"));
  $("cancel").addEventListener("click", () => {
    $("confirm").hidden = false;
    $("confirm-yes").focus();
  });
  $("confirm-no").addEventListener("click", () => {
    $("confirm").hidden = true;
    $("cancel").focus();
  });
  $("confirm-yes").addEventListener("click", () => act("app_cancel_campaign", "Cancelling…"));
  $("refresh").addEventListener("click", () => refresh());
  onWidthChange(() => last && drawChart(last.counts || {}));
  app = await connectView("voicing-mcp campaign view", {
    ontoolinput: (params) => {
      const id = params && params.arguments ? params.arguments.campaign_id : null;
      if (typeof id === "string" && !campaignId) campaignId = id;
    },
    ontoolresult: onResult,
    onteardown: () => {
      if (timer !== null) clearTimeout(timer);
      campaignId = null;
    },
  });
}

main().catch((err) => note(`The view could not connect to its host: ${err && err.message ? err.message : err}`, true));
