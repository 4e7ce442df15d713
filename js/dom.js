// DOM helpers without state.
import { ATTR_ID, ATTR_KIND, EV_ERROR } from "./protocol.js";
import { LIVE, SEL_ROOT } from "./constants.js";
import { safeURL } from "./rules.js";
import { leave } from "./url.js";

export const findRoot = (id) => document.querySelector(`[${ATTR_ID}="${CSS.escape(id)}"]${LIVE}`);

// live reports whether el's data-flux-* attributes count: it is in the
// page, in a component, and in no data-flux-inert region.
export const live = (el) => el.isConnected && el.matches(LIVE) && !!el.closest(SEL_ROOT);

// attrsWithPrefix returns {NAME: value} for el's attributes prefix+NAME.
export function attrsWithPrefix(el, prefix) {
  const out = Object.create(null);
  for (const a of el.attributes) if (a.name.startsWith(prefix)) out[a.name.slice(prefix.length)] = a.value;
  return out;
}

// emit dispatches a bubbling event on target if in the page, else on document.
// inside returns the elements of root matching sel that are not in a
// nested component nor in a data-flux-inert region.
export const inside = (root, sel) => [...root.querySelectorAll(sel + LIVE)].filter((el) => el.closest(SEL_ROOT) === root);

export function emit(target, name, detail) {
  (target?.isConnected ? target : document).dispatchEvent(new CustomEvent(name, { bubbles: true, detail }));
}

// navigate follows a redirect the server asked for, only where safeURL
// allows, with the flashes among events (see leave); a refusal is
// reported as liveflux:error. Returns whether it navigated.
export function navigate(to, componentID, kind, events) {
  const href = safeURL(to, location.href), root = componentID && findRoot(componentID);
  if (href) return leave(new URL(href), root, events), true;
  emit(root, EV_ERROR, { status: 0, message: "refused redirect to an unsafe URL", componentID, kind: kind || root?.getAttribute(ATTR_KIND) });
  return false;
}

// parseHTML parses a rendering into its root element. A template parses
// with scripting off, where <noscript> holds markup, which the page (its
// scripting on) holds as text: text never becomes markup there if the
// <noscript> stays empty.
export function parseHTML(html) {
  const t = document.createElement("template");
  t.innerHTML = html;
  for (const n of t.content.querySelectorAll("noscript")) n.replaceChildren();
  return t.content.firstElementChild;
}
