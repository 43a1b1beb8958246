// What both views share: the MCP Apps connection (the extension's own App class: the ui/initialize handshake,
// tool-result notifications, tools/call and resources/read through the host), the host's theme, and small
// DOM helpers that only ever set text (never markup built from data).
import { App, applyDocumentTheme, applyHostStyleVariables } from "@modelcontextprotocol/ext-apps";

/** The App for this view, connected to the host; `handlers` are set before connecting so no notification is missed. */
export async function connectView(name, handlers) {
  const app = new App({ name, version: __VIEW_VERSION__ }, {}, { autoResize: true });
  const applyContext = (ctx) => {
    if (!ctx) return;
    if (ctx.theme) applyDocumentTheme(ctx.theme);
    if (ctx.styles && ctx.styles.variables) applyHostStyleVariables(ctx.styles.variables);
  };
  app.onhostcontextchanged = (ctx) => applyContext(ctx);
  if (handlers.ontoolinput) app.ontoolinput = handlers.ontoolinput;
  if (handlers.ontoolresult) app.ontoolresult = handlers.ontoolresult;
  app.onteardown = async () => {
    if (handlers.onteardown) handlers.onteardown();
    return {};
  };
  await app.connect();
  applyContext(app.getHostContext());
  return app;
}

/** An element with text (never HTML) and attributes. */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A horizontal bar chart (inline SVG, drawn 1:1 at `width` pixels so its text stays readable on a phone): one
 * labelled bar per [label, count] with a count above zero, in the order given. */
export function barChart(title, pairs, classOf, width) {
  const rows = pairs.filter(([, n]) => n > 0);
  const w = Math.max(240, Math.floor(width || 480));
  const labelW = Math.min(190, Math.round(w * 0.42));
  const trackW = w - labelW - 48;
  const rowH = 24;
  const height = Math.max(rows.length, 1) * rowH + 4;
  const max = Math.max(1, ...rows.map(([, n]) => n));
  const chars = Math.max(8, Math.floor(labelW / 7.2));
  const root = svg("svg", {
    viewBox: `0 0 ${w} ${height}`,
    width: w,
    height,
    role: "img",
    "aria-label": `${title}: ${rows.map(([k, n]) => `${k} ${n}`).join(", ") || "none"}`,
  });
  if (rows.length === 0) root.append(svg("text", { x: 0, y: 16 }, "none"));
  rows.forEach(([label, n], i) => {
    const y = i * rowH + 2;
    const barW = Math.max(2, Math.round((trackW * n) / max));
    const shown = label.length > chars ? `${label.slice(0, chars - 1)}…` : label;
    const g = svg("g", { "data-label": label, "data-count": n });
    const name = svg("text", { x: 0, y: y + 15 }, shown);
    name.append(svg("title", {}, label));
    g.append(name);
    g.append(svg("rect", { class: "track", x: labelW, y: y + 4, width: trackW, height: rowH - 9, rx: 3 }));
    g.append(svg("rect", { class: `fill ${classOf ? classOf(label) : ""}`, x: labelW, y: y + 4, width: barW, height: rowH - 9, rx: 3 }));
    g.append(svg("text", { x: labelW + barW + 6, y: y + 15 }, n.toLocaleString("en-US")));
    root.append(g);
  });
  return root;
}

/** The width a chart inside `node` may take (its box, less nothing: the charts sit in plain blocks). */
export function widthOf(node) {
  return node.clientWidth || document.documentElement.clientWidth - 24;
}

/** Call `fn` again after the view's width changed (the host resized the frame, a phone turned). */
export function onWidthChange(fn) {
  let last = document.documentElement.clientWidth;
  let timer = null;
  window.addEventListener("resize", () => {
    if (document.documentElement.clientWidth === last) return;
    last = document.documentElement.clientWidth;
    clearTimeout(timer);
    timer = setTimeout(fn, 100);
  });
}

/** The first sentence of a text (a tool's summary leads with what it did). */
export function firstSentence(text) {
  const m = (text || "").match(/^.*?[.!?](?=\s|$)/s);
  return m ? m[0] : text || "";
}

export function fmtInt(n) {
  return Number(n || 0).toLocaleString("en-US");
}

/** An ISO time as the person's local time (and the raw value in the title). */
export function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** The first text block of a tool result (its summary). */
export function textOf(result) {
  const block = (result && result.content ? result.content : []).find((b) => b && b.type === "text");
  return block ? block.text : "";
}
