// Interop: the official TypeScript MCP SDK client drives the voicing-mcp stdio server (local mode,
// built-in emulator, no real phone) through every tool, the prompts, the resources and completion; then a campaign
// over streamable HTTP (`voicing-mcp --transport http` as a child process), approved on its page by URL elicitation.
// Usage: node ts-client.mjs [path/to/voicing-mcp]   (default: ../.venv/bin/voicing-mcp)
// Prints one line per step; exits 1 on the first failure, 0 when every step passed.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport, getDefaultEnvironment } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";

const here = dirname(fileURLToPath(import.meta.url));
const command = resolve(process.argv[2] ?? join(here, "..", ".venv", "bin", "voicing-mcp"));
const READ_TOOLS = ["get_call_details", "list_calls", "bulk_call_details", "chat_with_assistant", "list_assistants"];
const LOCAL_TOOLS = ["list_assistants", "campaign_status", "list_campaigns"]; // local state only: not open-world
const PROMPTS = ["place_call_safely", "test_assistant", "reconcile_campaign", "run_campaign"];
const ASSISTANT = "019addcc-b878-7b10-85f1-49f21342f947";
const DIAL_TOOL = "initiate_outbound_call";

let step = 0;
function check(condition, message, detail) {
  if (!condition) {
    const extra = detail === undefined ? "" : `\n  got: ${JSON.stringify(detail).slice(0, 600)}`;
    throw new Error(`${message}${extra}`);
  }
}
function ok(what) {
  step += 1;
  console.log(`ok ${String(step).padStart(2)}  ${what}`);
}
function textOf(result) {
  return (result.content ?? []).filter((c) => c.type === "text").map((c) => c.text).join("\n");
}

const stateDir = mkdtempSync(join(tmpdir(), "voicing-interop-"));
const env = { ...getDefaultEnvironment(), XDG_STATE_HOME: stateDir, VOICING_QUIET_HOURS: "off" };
const transport = new StdioClientTransport({ command, args: [], env, stderr: "pipe" });
let stderrText = "";
transport.stderr?.on("data", (chunk) => {
  stderrText += chunk.toString();
});
const client = new Client({ name: "voicing-interop-ts", version: "1.0.0" }, { capabilities: {} });

async function callTool(name, args, options) {
  return client.callTool({ name, arguments: args }, undefined, { timeout: 60_000, ...options });
}

// Progress as it came over the wire. The TypeScript client runs a notification's handler in a microtask but a
// response's synchronously, so when a progress notification and the response arrive in one read from the pipe,
// the response drops the progress handler first and `onprogress` never fires ("unknown token"): a client race
// that once failed CI. What the server sent is read here, before the client dispatches it.
const wireProgress = [];
function watchProgress() {
  const deliver = transport.onmessage;
  transport.onmessage = (message, extra) => {
    if (message?.method === "notifications/progress") wireProgress.push(message.params);
    deliver?.(message, extra);
  };
}
async function progressOf(call) {
  wireProgress.length = 0;
  const result = await call();
  return { result, progress: [...wireProgress] };
}

async function main() {
  await client.connect(transport);
  watchProgress();
  const info = client.getServerVersion();
  check(info?.name === "voicing-mcp", "server identifies as voicing-mcp", info);
  ok(`initialize: ${info.name} ${info.version}, protocol negotiated`);

  await client.ping();
  ok("ping");

  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name);
  for (const name of READ_TOOLS) check(names.includes(name), `tool ${name} is listed`, names);
  for (const tool of tools) {
    check(tool.description && tool.description.length > 20, `${tool.name} has a description`, tool);
    check(tool.inputSchema?.type === "object", `${tool.name} has an input schema`, tool.inputSchema);
    check(tool.outputSchema?.type === "object", `${tool.name} declares an output schema`, tool);
    const openWorld = !LOCAL_TOOLS.includes(tool.name);
    check(tool.annotations?.openWorldHint === openWorld, `${tool.name} is annotated open-world: ${openWorld}`, tool);
  }
  for (const name of ["get_call_details", "list_calls", "bulk_call_details", "list_assistants"]) {
    const a = tools.find((t) => t.name === name).annotations;
    check(a.readOnlyHint === true && a.idempotentHint === true, `${name} is read-only and idempotent`, a);
  }
  ok(`tools/list: ${names.join(", ")}`);

  const page = await callTool("list_calls", { page: 1, limit: 5 });
  check(!page.isError, "list_calls succeeds", page);
  const calls = page.structuredContent?.calls ?? [];
  check(calls.length === 5 && calls.every((c) => typeof c.call_id === "string"), "list_calls returns 5 calls", page);
  check(textOf(page).length > 0, "list_calls has a text block", page.content);
  ok(`list_calls: ${calls.length} calls, total ${page.structuredContent.total}`);

  const one = await callTool("get_call_details", { call_id: calls[0].call_id });
  check(!one.isError && one.structuredContent?.call_id === calls[0].call_id, "get_call_details returns the call", one);
  ok(`get_call_details: ${one.structuredContent.call_id} is ${one.structuredContent.status}`);

  const ids = [...calls.map((c) => c.call_id), calls[0].call_id, "no-such-call-interop"];
  const { result: bulk, progress } = await progressOf(() =>
    callTool("bulk_call_details", { call_ids: ids }, { onprogress: () => {} }),
  );
  check(!bulk.isError, "bulk_call_details succeeds", bulk);
  const b = bulk.structuredContent;
  check(b.found === 5 && b.duplicates_removed === 1, "bulk_call_details finds 5 and drops the duplicate", b);
  check(b.missing.length === 1 && b.missing[0] === "no-such-call-interop", "the unknown id is reported missing", b);
  check(
    b.calls.map((c) => c.call_id).join() === calls.map((c) => c.call_id).join(),
    "bulk keeps the request order",
    b.calls.map((c) => c.call_id),
  );
  check(progress.length >= 1, "bulk_call_details sends progress notifications", progress);
  ok(`bulk_call_details: ${b.found} found, missing ${JSON.stringify(b.missing)}, ${progress.length} progress`);

  const { result: rec, progress: ticks } = await progressOf(() =>
    callTool("reconcile_calls", { call_ids: ids, expected_status: "completed" }, { onprogress: () => {} }),
  );
  check(!rec.isError, "reconcile_calls succeeds", rec);
  const r = rec.structuredContent;
  check(r.found === 5 && r.missing.count === 1 && r.duplicates_removed === 1, "reconcile_calls counts", r);
  check(r.mismatches.count === 5 - (r.by_status.completed ?? 0), "reconcile_calls counts mismatches", r);
  const link = rec.content.find((c) => c.type === "resource_link");
  check(link?.uri === r.report && ticks.length >= 1, "reconcile_calls links its report, with progress", rec.content);
  const report = JSON.parse((await client.readResource({ uri: r.report })).contents[0].text);
  check(report.rows.length === 6 && report.found === 5, "the report has a row per distinct id", report);
  const csvText = (await client.readResource({ uri: r.report_csv })).contents[0].text;
  check(csvText.trim().split("\n").length === 7, "the CSV report has a header and a line per id", csvText);
  ok(`reconcile_calls: ${JSON.stringify(r.by_status)}, ${r.mismatches.count} mismatches, report read as JSON and CSV`);

  const first = await callTool("chat_with_assistant", { assistant_id: ASSISTANT, message: "Hello, who is this?" });
  check(!first.isError && first.structuredContent?.reply?.length > 0, "chat_with_assistant replies", first);
  const conversation = first.structuredContent.conversation_id;
  const second = await callTool("chat_with_assistant", {
    assistant_id: ASSISTANT,
    message: "Can you tell me more?",
    conversation_id: conversation,
  });
  check(
    !second.isError && second.structuredContent.conversation_id === conversation && second.structuredContent.turn === 2,
    "the conversation continues with conversation_id",
    second,
  );
  ok(`chat_with_assistant: two turns in conversation ${conversation}`);

  const listed = await callTool("list_assistants", {});
  check(!listed.isError, "list_assistants succeeds", listed);
  const billing = listed.structuredContent?.assistants?.find((a) => a.assistant_id === ASSISTANT);
  check(billing?.required_variables?.join() === "name,plan_type", "list_assistants names the required variables", listed);
  check(billing.opening_line === "Hi {{name}}, your {{plan_type}} plan payment is pending.", "the opening line shows {{placeholders}}", billing);
  check(listed.structuredContent.next_offset === null, "three templates fit one page", listed.structuredContent);
  ok(`list_assistants: ${listed.structuredContent.total} assistants, ${ASSISTANT} needs ${billing.required_variables.join(", ")}`);

  const filled = await callTool("chat_with_assistant", {
    assistant_id: ASSISTANT,
    message: "hello",
    input_variables: { name: "Interop", plan_type: "Gold" },
  });
  const greeting = filled.structuredContent?.greeting;
  check(!filled.isError && greeting === "Hi Interop, your Gold plan payment is pending.", "input_variables fill the greeting", filled);
  check(filled.structuredContent.opening_line === greeting, "the local opening line matches the greeting", filled.structuredContent);
  const unfilled = await callTool("chat_with_assistant", {
    assistant_id: ASSISTANT,
    message: "hello",
    input_variables: { name: "Interop" },
  });
  check(unfilled.isError === true && /plan_type/.test(textOf(unfilled)), "a missing required variable is named", unfilled);
  ok(`chat_with_assistant(input_variables): greeting "${greeting}"; a missing variable is refused`);

  const { prompts } = await client.listPrompts();
  const promptNames = prompts.map((p) => p.name);
  for (const name of PROMPTS) check(promptNames.includes(name), `prompt ${name} is listed`, promptNames);
  for (const prompt of prompts) {
    check(prompt.description && prompt.arguments?.every((a) => a.description), `${prompt.name} is described`, prompt);
  }
  const place = await client.getPrompt({
    name: "place_call_safely",
    arguments: { phone_number: "+12015550123", assistant_id: ASSISTANT },
  });
  const placeText = place.messages[0]?.content?.text ?? "";
  check(place.messages[0]?.role === "user" && /required input_variables: name, plan_type/.test(placeText), "the prompt names the variables", place);
  check(/Never retry a dial/.test(placeText), "the prompt says never to retry a dial", placeText);
  let promptError;
  try {
    await client.getPrompt({ name: "test_assistant", arguments: {} });
  } catch (err) {
    promptError = err;
  }
  check(promptError?.code === -32602 && /assistant_id/.test(promptError.message), "a missing prompt argument is -32602", String(promptError));
  ok(`prompts: ${promptNames.join(", ")}; get place_call_safely; a missing argument is -32602`);

  const missing = await callTool("get_call_details", { call_id: "no-such-call-interop" });
  check(missing.isError === true, "an unknown call id is a tool error (isError)", missing);
  check(/not found/i.test(textOf(missing)), "the error says not found", textOf(missing));
  ok(`get_call_details(bad id): isError, "${textOf(missing).slice(0, 80)}"`);

  const badLimit = await callTool("list_calls", { limit: 1000 });
  check(badLimit.isError === true && /limit/i.test(textOf(badLimit)), "an out-of-range limit names the field", badLimit);
  ok("list_calls(limit=1000): isError naming `limit`");

  const badChat = await callTool("chat_with_assistant", { assistant_id: "no-such-assistant", message: "hi" });
  check(badChat.isError === true, "chat with an unknown assistant is a tool error", badChat);
  ok(`chat_with_assistant(bad assistant): isError, "${textOf(badChat).slice(0, 80)}"`);

  if (names.includes(DIAL_TOOL)) {
    const tpl = await client.readResource({ uri: `voicing://assistants/${ASSISTANT}` });
    check(tpl.contents.length > 0, "the assistant's template resource is readable", tpl);
    const required = JSON.parse(tpl.contents[0].text).required_variables;
    check(Array.isArray(required) && required.length > 0, "the template resource lists required_variables", tpl);
    const input_variables = Object.fromEntries(required.map((name) => [name, `interop ${name}`]));
    const dial = await callTool(DIAL_TOOL, { assistant_id: ASSISTANT, phone_number: "+12015550123", input_variables });
    check(
      !dial.isError && dial.structuredContent?.status === "confirmation_required",
      "a dial without a human's confirmation is held back (confirmation_required), never placed",
      dial,
    );
    ok(`${DIAL_TOOL}: confirmation_required, nothing dialled`);
  }

  // a campaign over stdio: prepared (every row checked), started with its token (token mode: local mode's
  // default), dialled by the server's own dispatcher in the background, watched with campaign_status
  const recipients = ["+12015550131", "+12015550132", "+12015550133", "+12015550132"].map((phone_number, i) => ({
    phone_number,
    input_variables: { name: `Interop ${i}`, plan_type: "Gold" },
  }));
  const prepared = await callTool("prepare_campaign", { assistant_id: ASSISTANT, recipients, name: "interop" });
  const cp = prepared.structuredContent;
  check(!prepared.isError && cp?.status === "awaiting_approval" && cp.accepted === 3, "prepare_campaign accepts 3 rows", prepared);
  check(cp.excluded.count === 1 && typeof cp.confirmation_token === "string", "the repeated number is excluded; a token", cp);
  const startedCampaign = await callTool("control_campaign", {
    campaign_id: cp.campaign_id,
    action: "start",
    confirmation_token: cp.confirmation_token,
  });
  check(!startedCampaign.isError, "control_campaign(start) with the token starts the campaign", startedCampaign);
  let status;
  for (let i = 0; i < 60; i += 1) {
    status = (await callTool("campaign_status", { campaign_id: cp.campaign_id })).structuredContent;
    if (status && status.counts.queued === 0 && status.counts.dialling === 0) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const placed = status.counts.in_progress + status.counts.completed;
  check(placed === 3 && status.counts.excluded === 1, "the server's dispatcher dials the 3 accepted rows once each", status);
  const listedCampaigns = await callTool("list_campaigns", {});
  check(!listedCampaigns.isError, "list_campaigns succeeds", listedCampaigns);
  const rowsPart = JSON.parse((await client.readResource({ uri: status.resource })).contents[0].text);
  check(JSON.stringify(rowsPart).includes("+12015550131"), "the campaign's rows resource reads", rowsPart);
  ok(`campaign ${cp.campaign_id}: 3 accepted, 1 excluded, started with its token, ${placed} dialled (${status.status})`);

  const { resources } = await client.listResources();
  const { resourceTemplates } = await client.listResourceTemplates();
  const templates = resourceTemplates.map((t) => t.uriTemplate);
  check(resources.some((r) => r.uri === "voicing://assistants"), "voicing://assistants is listed", resources);
  check(templates.includes("voicing://calls/{call_id}"), "voicing://calls/{call_id} is a template", templates);
  const assistants = await client.readResource({ uri: "voicing://assistants" });
  check(assistants.contents[0]?.text.includes(ASSISTANT), "voicing://assistants lists the example assistant", assistants);
  const callRes = await client.readResource({ uri: `voicing://calls/${calls[0].call_id}` });
  check(callRes.contents[0]?.text.includes(calls[0].call_id), "voicing://calls/{id} reads the call", callRes);
  ok(`resources: ${resources.length} listed, ${templates.length} templates, assistants and a call read`);

  const completion = await client.complete({
    ref: { type: "ref/resource", uri: "voicing://assistants/{assistant_id}" },
    argument: { name: "assistant_id", value: "019addcc-b8" },
  });
  check(completion.completion.values.includes(ASSISTANT), "assistant ids complete", completion);
  ok(`completion/complete: ${completion.completion.values.join(", ")}`);
}

// A campaign over streamable HTTP: `voicing-mcp --transport http` (local mode, human confirmation) as a child
// process, this client declaring URL elicitation. The approval page's address comes by URL elicitation; the handler
// plays the user's browser: GET the page, untick row 2, POST the form with choice=start (its CSRF token, the page's
// own Origin). Then campaign_status until it completes, each ticked number dialled once (the campaign's call ids
// through bulk_call_details).
const httpServer = { proc: null, stderr: "", stateDir: mkdtempSync(join(tmpdir(), "voicing-interop-http-")) };

async function startHttpServer() {
  const env = {
    ...getDefaultEnvironment(),
    XDG_STATE_HOME: httpServer.stateDir, // a ledger of its own: the stdio server's dispatcher stays out of it
    VOICING_ENV: "local",
    VOICING_CONFIRMATION: "human",
    VOICING_QUIET_HOURS: "off",
  };
  const proc = spawn(command, ["--transport", "http", "--host", "127.0.0.1", "--port", "0"], {
    env,
    stdio: ["ignore", "ignore", "pipe"],
  });
  httpServer.proc = proc;
  return new Promise((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error("the HTTP server did not announce its URL in 60 s")), 60_000);
    proc.stderr.on("data", (chunk) => {
      httpServer.stderr += chunk.toString();
      const found = httpServer.stderr.match(/http:\/\/127\.0\.0\.1:\d+\/mcp/);
      if (found) {
        clearTimeout(timer);
        resolveUrl(found[0]);
      }
    });
    proc.on("exit", (code) => reject(new Error(`the HTTP server exited (${code})`)));
  });
}

async function approveInTheBrowser(url, untick) {
  const origin = new URL(url).origin;
  const page = await fetch(url);
  const html = await page.text();
  check(page.status === 200, "the approval page opens", html.slice(0, 300));
  const csrf = html.match(/name="csrf" value="([^"]+)"/)?.[1];
  const rows = [...html.matchAll(/name="row" value="(\d+)"/g)].map((m) => m[1]);
  check(csrf && rows.length > 0, "the page is a form with a CSRF token and a checkbox per row", html.slice(0, 300));
  const form = new URLSearchParams({ csrf, page: "1", choice: "start" });
  for (const row of rows) if (!untick.includes(Number(row))) form.append("row", row);
  const answer = await fetch(url, { method: "POST", body: form, headers: { origin } });
  // followed as a browser does: the approved page turns into the campaign's dashboard (303)
  return { status: answer.status, text: await answer.text(), dashboard: answer.url.includes("/dashboard/") };
}

async function campaignOverHttp() {
  const url = await startHttpServer();
  const asked = [];
  const http = new Client(
    { name: "voicing-interop-ts-http", version: "1.0.0" },
    { capabilities: { elicitation: { form: {}, url: {} } } },
  );
  http.setRequestHandler(ElicitRequestSchema, async (request) => {
    check(request.params.mode === "url", "the approval page comes by URL elicitation", request.params);
    asked.push({ url: request.params.url, answer: await approveInTheBrowser(request.params.url, [2]) });
    return { action: "accept" };
  });
  await http.connect(new StreamableHTTPClientTransport(new URL(url)));
  try {
    const numbers = ["+12015550191", "+12015550192", "+12015550193", "+12015550194", "+12015550192"];
    const prepared = await http.callTool(
      {
        name: "prepare_campaign",
        arguments: {
          assistant_id: ASSISTANT,
          recipients: numbers.map((phone_number, i) => ({ phone_number, input_variables: { name: `Http ${i}`, plan_type: "Gold" } })),
          name: "interop over http",
          max_concurrent: 3,
          wait_seconds: 30,
        },
      },
      undefined,
      { timeout: 60_000 },
    );
    const cp = prepared.structuredContent;
    check(!prepared.isError && cp?.status === "running" && cp.asked_via === "url-elicitation", "approved by URL elicitation", prepared);
    check(cp.accepted === 4 && cp.excluded.count === 1, "4 rows accepted, the repeated number excluded", cp);
    check(asked.length === 1 && asked[0].answer.status === 200 && asked[0].answer.dashboard && /Approved: 3 calls/.test(asked[0].answer.text), "the page approved 3 calls", asked);
    check(!JSON.stringify(prepared).includes(asked[0].url), "the page's address never reaches the model", cp);
    let status;
    for (let i = 0; i < 120; i += 1) {
      status = (await http.callTool({ name: "campaign_status", arguments: { campaign_id: cp.campaign_id } })).structuredContent;
      if (status?.status !== "running") break;
      await new Promise((r) => setTimeout(r, 500));
    }
    check(status.status === "completed" && status.counts.completed === 3 && status.counts.removed === 1, "the campaign completes: 3 dialled, 1 unticked", status);
    const part = JSON.parse((await http.readResource({ uri: status.resource })).contents[0].text);
    const callIds = part.rows.map((row) => row[part.columns.indexOf("call_id")]).filter(Boolean);
    const bulk = (await http.callTool({ name: "bulk_call_details", arguments: { call_ids: callIds } })).structuredContent;
    const dialled = bulk.calls.map((c) => c.phone_number).sort();
    check(JSON.stringify(dialled) === JSON.stringify(["+12015550191", "+12015550193", "+12015550194"]), "each ticked number dialled once", dialled);
    ok(`campaign over streamable HTTP ${cp.campaign_id}: approved on its page by URL elicitation (1 row unticked), 3 dialled once each, ${status.status}`);
  } finally {
    await http.close().catch(() => {});
  }
}

const deadline = setTimeout(() => {
  console.error("FAIL: the interop run took longer than 180 s");
  process.exit(1);
}, 180_000);

let code = 0;
try {
  await main();
  await campaignOverHttp();
  console.log(`PASS: ${step} steps with the TypeScript SDK client over stdio and streamable HTTP`);
} catch (err) {
  code = 1;
  console.error(`FAIL after ${step} steps: ${err?.message ?? err}`);
  if (stderrText) console.error(`--- server stderr (last lines) ---\n${stderrText.split("\n").slice(-15).join("\n")}`);
  if (httpServer.stderr) console.error(`--- HTTP server stderr (last lines) ---\n${httpServer.stderr.split("\n").slice(-15).join("\n")}`);
} finally {
  clearTimeout(deadline);
  await client.close().catch(() => {});
  httpServer.proc?.kill();
  rmSync(httpServer.stateDir, { recursive: true, force: true });
  rmSync(stateDir, { recursive: true, force: true });
}
process.exit(code);
