// The protocol's rules as pure functions (PROTOCOL.md): revisions, diff
// updates, redirect targets, reconnect delays, form fields. No DOM, no I/O:
// js/test/rules.test.js runs them in Node.
import { ATTR_ID, ATTR_KIND, ATTR_REV } from "./protocol.js";
import { BACKOFF_BASE, BACKOFF_CAP } from "./constants.js";

// isStale reports whether a rendering of revision next must be ignored
// where revision shown is on the page: it is older. A missing or 0
// revision is always applied.
export const isStale = (next, shown) => !!next && next < shown;

// diffStep says what to do with a diff update {rev, base} where revision
// shown is on the page: "stale" (ignore it), "resync" (the page lacks its
// base: ask for the full rendering) or "apply".
export const diffStep = (shown, { rev, base }) => (rev <= shown ? "stale" : base !== shown ? "resync" : "apply");

// applyDiff applies diff [p, s, text] to body: its first p and last s
// UTF-16 code units with text between them.
export const applyDiff = (body, [p, s, text]) => body.slice(0, p) + text + body.slice(body.length - s);

// applyEdits applies edits [keep, drop, text, …] to body: runs of it kept
// (UTF-16 code units), then dropped and replaced by text; the rest is kept.
export function applyEdits(body, edits) {
  let out = "", at = 0;
  for (let i = 0; i < edits.length; i += 3) {
    out += body.slice(at, at + edits[i]) + edits[i + 2];
    at += edits[i] + edits[i + 1];
  }
  return out + body.slice(at);
}

// bodyOf returns the markup inside a rendering's root element.
export const bodyOf = (html) => html.slice(html.indexOf(">") + 1, html.lastIndexOf("</"));

// rootHTML returns the rendering with the given root attributes and body.
export function rootHTML(kind, id, rev, body) {
  const q = (s) => `"${String(s).replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;")}"`;
  return `<div ${ATTR_KIND}=${q(kind)} ${ATTR_ID}=${q(id)} ${ATTR_REV}="${rev}">${body}</div>`;
}

// safeURL resolves a redirect target against base and returns it when it
// is an http(s) URL that stays on base's origin, or that is spelled out
// with http:// or https:// (another site, as the server meant it); else
// null: javascript:, data:, … in any letter case, after any blanks, and
// look-alikes of a path that lead elsewhere (//evil, /\evil, https:evil).
export function safeURL(to, base) {
  try {
    const u = typeof to === "string" && new URL(to, base);
    return /^https?:$/.test(u?.protocol) && (/^https?:\/\//i.test(to) || u.origin === new URL(base).origin) ? u.href : null;
  } catch {
    return null;
  }
}

// backoff returns the delay before reconnect attempt tries (0, 1, …):
// exponential, capped, with full jitter (rnd in [0, 1)).
export const backoff = (tries, rnd) => rnd * Math.min(BACKOFF_CAP, BACKOFF_BASE * 2 ** tries);

// addField adds value under name; a repeated name gets an array.
export function addField(fields, name, value) {
  const old = fields[name];
  fields[name] = old === undefined ? value : [].concat(old, value);
}

// wireFields returns fields as the protocol sends them: each value a
// string or an array of strings.
export function wireFields(fields) {
  const out = Object.create(null);
  for (const [name, v] of Object.entries(fields)) out[name] = Array.isArray(v) ? v.map(String) : String(v);
  return out;
}
