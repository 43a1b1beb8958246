// Builds each view (src/<view>.html + src/<view>.js + src/style.css) into ONE self-contained HTML file under
// voicing_mcp/pages/apps/: the script bundled by esbuild with @modelcontextprotocol/ext-apps (the extension's own
// view library) and what it imports, inlined with the CSS. No external URL is loaded by the result. The licences
// of every bundled package are written beside it (THIRD_PARTY_LICENSES.txt). Run by build.sh.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync, mkdirSync, existsSync, readdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const OUT = join(HERE, "..", "voicing_mcp", "pages", "apps");
const VIEWS = ["campaign", "reconcile"];
const pkg = (name) => JSON.parse(readFileSync(join(HERE, "node_modules", name, "package.json"), "utf8"));
const EXT_APPS = pkg("@modelcontextprotocol/ext-apps").version;
const SELF = JSON.parse(readFileSync(join(HERE, "package.json"), "utf8"));

mkdirSync(OUT, { recursive: true });
const css = readFileSync(join(HERE, "src", "style.css"), "utf8");
const bundled = new Set();

for (const view of VIEWS) {
  const result = await build({
    entryPoints: [join(HERE, "src", `${view}.js`)],
    bundle: true,
    format: "iife",
    platform: "browser",
    target: "es2020",
    minify: true,
    legalComments: "none",
    charset: "utf8",
    write: false,
    metafile: true,
    define: { __VIEW_VERSION__: JSON.stringify(SELF.version) },
    logLevel: "warning",
  });
  const [output] = Object.values(result.metafile.outputs);
  for (const [input, used] of Object.entries(output.inputs)) {
    if (!used.bytesInOutput) continue;
    const m = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
    if (m) bundled.add(m[1]);
  }
  // a "</script" inside the code would end the inline script early
  const js = result.outputFiles[0].text.replace(/<\/(script)/gi, "<\\/$1");
  const template = readFileSync(join(HERE, "src", `${view}.html`), "utf8");
  const stamp =
    `<!-- voicing-mcp ${view} view: built by apps/build.sh from apps/src with @modelcontextprotocol/ext-apps ` +
    `${EXT_APPS} (and its bundled dependencies; licences in THIRD_PARTY_LICENSES.txt beside this file). ` +
    `Do not edit: change apps/src and rebuild. -->\n`;
  const html = template
    .replace("<!doctype html>\n", `<!doctype html>\n${stamp}`)
    .replace('<meta charset="utf-8">', `<meta charset="utf-8">\n<meta name="generator" content="@modelcontextprotocol/ext-apps ${EXT_APPS}">`)
    .replace("/*STYLE*/", () => css)
    .replace("/*SCRIPT*/", () => js);
  writeFileSync(join(OUT, `${view}.html`), html);
  console.log(`${relative(join(HERE, ".."), join(OUT, `${view}.html`))}: ${html.length.toLocaleString("en-US")} characters`);
}

const licences = [
  "Third-party software bundled into voicing_mcp/pages/apps/*.html (the MCP Apps views), built by apps/build.sh",
  "from the exact versions pinned in apps/package-lock.json. Each package's licence follows, as it ships it.",
  "",
];
for (const name of [...bundled].sort()) {
  const dir = join(HERE, "node_modules", name);
  const meta = pkg(name);
  const file = ["LICENSE", "LICENSE.md", "LICENSE.txt", "license"].map((f) => join(dir, f)).find((f) => existsSync(f));
  licences.push("=".repeat(100), `${name} ${meta.version} — package.json: ${meta.license}`, "=".repeat(100), "");
  licences.push(file ? readFileSync(file, "utf8").trim() : `(no licence file shipped; package.json says ${meta.license})`, "");
}
writeFileSync(join(OUT, "THIRD_PARTY_LICENSES.txt"), `${licences.join("\n")}\n`);
// what the committed files were built from: tests/server/apps/test_views.py recomputes these digests without npm,
// so a source changed without a rebuild (or a built file edited by hand) fails the suite
// (line ends as LF: a checkout with CRLF line ends hashes the same)
const sha256 = (path) => createHash("sha256").update(readFileSync(path, "utf8").replace(/\r\n/g, "\n")).digest("hex");
const sources = ["package.json", "package-lock.json", "build.mjs", ...readdirSync(join(HERE, "src")).sort().map((f) => `src/${f}`)];
const manifest = {
  "@modelcontextprotocol/ext-apps": EXT_APPS,
  bundled: Object.fromEntries([...bundled].sort().map((name) => [name, pkg(name).version])),
  sources: Object.fromEntries(sources.map((f) => [`apps/${f}`, sha256(join(HERE, f))])),
  outputs: Object.fromEntries(
    [...VIEWS.map((v) => `${v}.html`), "THIRD_PARTY_LICENSES.txt"].map((f) => [f, sha256(join(OUT, f))]),
  ),
};
writeFileSync(join(OUT, "build.json"), `${JSON.stringify(manifest, null, 2)}\n`);
console.log(`bundled: ${[...bundled].sort().join(", ")}`);
