// The reconciliation view: reconcile_calls' result as a person reads it — bar charts of the statuses and the
// ended reasons (inline SVG), durations, the mismatches, the calls still open or to call back — and the whole
// report (voicing://reports/{id}.csv, read through the host) as a CSV download. Read-only: it calls no tool.
import { barChart, connectView, el, fmtInt, onWidthChange, textOf, widthOf } from "./common.js";

const $ = (id) => document.getElementById(id);
let app;
let data = null;

const STATUS_CLASS = {
  completed: "ok",
  voicemail: "warn",
  busy: "warn",
  "no-answer": "warn",
  failed: "bad",
  canceled: "bad",
  cancelled: "bad",
};

function note(text, isError) {
  const box = $("note");
  box.textContent = text || "";
  box.hidden = !text;
  box.classList.toggle("error", Boolean(isError));
}

function pairs(counts) {
  return Object.entries(counts || {}).sort((a, b) => b[1] - a[1]);
}

function csvCell(value) {
  const text = value === null || value === undefined ? "" : String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The CSV this view can build by itself (counts and the mismatches it was given), when the host reads no resource. */
function summaryCsv(d) {
  const lines = [["kind", "name", "count"].join(",")];
  for (const [k, n] of pairs(d.by_status)) lines.push(["status", csvCell(k), n].join(","));
  for (const [k, n] of pairs(d.by_ended_reason)) lines.push(["ended_reason", csvCell(k), n].join(","));
  lines.push("", ["call_id", "expected", "actual"].join(","));
  for (const m of (d.mismatches && d.mismatches.sample) || []) {
    lines.push([csvCell(m.call_id), csvCell(m.expected), csvCell(m.actual)].join(","));
  }
  return `${lines.join("\r\n")}\r\n`;
}

function setDownload(csv, name, what) {
  const link = $("csv");
  link.href = `data:text/csv;charset=utf-8,${encodeURIComponent(csv)}`;
  link.setAttribute("download", name);
  link.textContent = `Download ${what} (CSV)`;
  link.hidden = false;
}

async function loadReportCsv(d) {
  const id = (d.report || "").split("/").pop() || "report";
  const name = `reconcile-${id}.csv`;
  const caps = app.getHostCapabilities() || {};
  if (!caps.serverResources || !d.report_csv) {
    setDownload(summaryCsv(d), name, "the counts and mismatches shown");
    return;
  }
  try {
    const read = await app.readServerResource({ uri: d.report_csv });
    const content = (read.contents || [])[0];
    if (!content || typeof content.text !== "string") throw new Error("the report came back empty");
    setDownload(content.text, name, `every row, ${fmtInt(d.unique)} calls`);
  } catch (err) {
    setDownload(summaryCsv(d), name, "the counts and mismatches shown");
    note(`The whole report could not be read (${err && err.message ? err.message : err}); the CSV has what is shown.`, true);
  }
}

function idList(title, sample) {
  if (!sample || !sample.count) return null;
  const more = sample.count > (sample.sample || []).length ? ` (first ${(sample.sample || []).length})` : "";
  return el("p", {}, el("strong", {}, `${title}: ${fmtInt(sample.count)}`), more, " — ", (sample.sample || []).join(", "));
}

function drawCharts(d) {
  const status = $("by-status");
  const reason = $("by-reason");
  status.replaceChildren(
    barChart("Calls by status", pairs(d.by_status), (l) => STATUS_CLASS[l.toLowerCase()] || "", widthOf(status)),
  );
  reason.replaceChildren(barChart("Calls by ended reason", pairs(d.by_ended_reason), undefined, widthOf(reason)));
}

function render(d) {
  data = d;
  $("empty").hidden = true;
  $("view").hidden = false;
  $("headline").textContent = `${fmtInt(d.unique)} calls reconciled: ${fmtInt(d.found)} found, ${fmtInt(
    d.missing ? d.missing.count : 0,
  )} missing`;
  $("report").textContent = d.report || "";
  drawCharts(d);
  const dur = d.duration_seconds || {};
  $("durations").textContent =
    dur.p50 === null || dur.p50 === undefined
      ? "No ended call has a duration."
      : `Durations: total ${fmtInt(Math.round(dur.total))} s, median ${dur.p50} s, p90 ${dur.p90} s, max ${dur.max} s.`;
  const mism = d.mismatches || { count: 0, sample: [] };
  $("mismatch-count").textContent =
    d.expected_checked > 0
      ? `${fmtInt(mism.count)} of ${fmtInt(d.expected_checked)} checked calls did not reach their expected status.`
      : "No expected status was given: nothing to compare.";
  $("mismatch-table").hidden = !mism.sample || mism.sample.length === 0;
  $("mismatches").replaceChildren(
    ...(mism.sample || []).map((m) => el("tr", {}, el("td", {}, m.call_id), el("td", {}, m.expected), el("td", {}, m.actual || "(none)"))),
  );
  $("mismatch-more").hidden = !(mism.count > (mism.sample || []).length);
  $("lists").replaceChildren(
    ...[
      idList("Still open", d.still_open),
      idList("To call back (ask the user first)", d.call_back),
      d.missing && d.missing.count ? idList("Missing", { count: d.missing.count, sample: d.missing.first }) : null,
    ].filter(Boolean),
  );
  loadReportCsv(d);
}

async function main() {
  onWidthChange(() => data && drawCharts(data));
  app = await connectView("voicing-mcp reconciliation view", {
    ontoolresult: (params) => {
      if (params.isError) note(textOf(params), true);
      else if (params.structuredContent && params.structuredContent.by_status) render(params.structuredContent);
    },
  });
}

main().catch((err) => note(`The view could not connect to its host: ${err && err.message ? err.message : err}`, true));
