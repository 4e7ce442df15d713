// Actions: which component runs them, with which fields, over which
// transport.
import { ATTR_ACTION, ATTR_CONFIRM, ATTR_DO, ATTR_ID, ATTR_INCLUDE, ATTR_KIND, ATTR_TARGET, ATTR_VALUE, FIELD_ACTION, FIELD_ID, FIELD_KIND, FIELD_TOUCHED, FIELD_TRIGGER, FIELD_URL, MSG_ACTION } from "./protocol.js";
import { LIVE, SEL_CONTROL, SEL_ROOT } from "./constants.js";
import { run } from "./commands.js";
import { attrsWithPrefix, emit, findRoot } from "./dom.js";
import { lost, post } from "./http.js";
import { addField, wireFields } from "./rules.js";
import { send } from "./socket.js";
import { applyStreams } from "./stream.js";
import { here, patch } from "./url.js";
import { apply, busy, progress, viewOf } from "./view.js";

// act runs action on a component given by ID, root or inner element:
// over the socket when open, else (or with files) over HTTP. el is the
// element that sent it, for loading states and, unless the action follows
// the user's typing (live: not sent by a submit, a click or Enter), for
// the value of the focused input in it (see morph). Over HTTP, the page's
// URL goes with it to a component that lives in the URL, and the events
// the component emitted (liveflux.Emit) follow, dispatched on its root,
// and the URL patch it asked for.
export async function act(target, action, fields = {}, el, files, live) {
  const root = typeof target === "string" ? findRoot(target) : target?.closest(SEL_ROOT);
  if (!root) return;
  const id = root.getAttribute(ATTR_ID), data = wireFields(fields), v = viewOf(root), a = document.activeElement;
  const job = { action, el }, own = !live && el?.contains(a) ? { el: a, value: a.value } : null;
  busy(id, job, true);
  if (!files?.length && send({ type: MSG_ACTION, componentID: id, action, data })) return void (v.own = own);
  const f = { ...data, [FIELD_KIND]: root.getAttribute(ATTR_KIND), [FIELD_ID]: id };
  if (action) f[FIELD_ACTION] = action;
  if (v.url) f[FIELD_URL] = here();
  const r = await post(f, files, files?.length && ((loaded, total) => progress(id, action, loaded, total)));
  busy(id, job, false);
  if (r?.ok) apply(id, r.text, own), applyStreams(id, r.streams);
  else if (r) lost(id, r.status, r.text);
  for (const ev of r?.events || []) emit(findRoot(id), ev.name, ev.detail);
  r?.patch && patch(r.patch.url, r.patch.replace);
}

// touched: the names of the fields the user typed in, changed or left,
// by form.
const touched = new WeakMap();

// touch notes that the user touched the field e is about.
export function touch(e) {
  const c = e.target, f = c.form;
  if (!f || !c.name) return;
  touched.has(f) || touched.set(f, new Set());
  touched.get(f).add(c.name);
}

// addOwn adds a control's own field: its name and value (a box only when
// checked; files never).
function addOwn(fields, c) {
  const name = c.getAttribute("name");
  if (name && (!/^(checkbox|radio)$/.test(c.type) || c.checked) && c.type !== "file") addField(fields, name, c.value ?? c.getAttribute("value") ?? "");
}

// fieldsOf returns the fields and files el's action sends for event e:
// its data-flux-value-*; a form's fields, or those of the form of a
// control, with liveflux_touched; else its own; a control's name as
// liveflux_trigger; and the fields of the controls data-flux-include
// selects, or holds: none in a data-flux-inert region, and a password or
// hidden field outside el's component only when selected itself.
export function fieldsOf(el, e) {
  const fields = attrsWithPrefix(el, ATTR_VALUE), files = [], inc = el.getAttribute(ATTR_INCLUDE);
  const control = /^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName), form = el.tagName === "FORM" ? el : control && el.form;
  if (control && el.name) fields[FIELD_TRIGGER] = el.name;
  if (form) {
    for (const [name, v] of new FormData(form)) typeof v === "string" ? addField(fields, name, v) : v.name && files.push([name, v]);
    const s = e?.submitter;
    if (s?.name) addField(fields, s.name, s.value);
    const names = [...new Set(e?.type === "submit" ? [...form.elements].map((c) => c.name).filter(Boolean) : touched.get(form) || [])];
    if (names.length) fields[FIELD_TOUCHED] = names;
  } else addOwn(fields, el);
  for (const x of inc ? document.querySelectorAll(inc) : []) {
    for (const c of x.matches(SEL_CONTROL) ? [x] : x.querySelectorAll(SEL_CONTROL)) {
      if (c.matches(LIVE) && (c === x || !/^(password|hidden)$/.test(c.type) || c.closest(SEL_ROOT) === el.closest(SEL_ROOT))) addOwn(fields, c);
    }
  }
  return { fields, files };
}

// trigger runs el's commands (data-flux-do) and sends its action as one of
// its triggers (event e; keyed: a trigger that names a key) asks: once
// the user accepted data-flux-confirm, with fieldsOf, to its component or
// to those data-flux-target names (an ID, or a kind: every one on the
// page). An element with commands sends only if it names an action.
export function trigger(el, e, keyed) {
  const q = el.getAttribute(ATTR_CONFIRM), to = el.getAttribute(ATTR_TARGET), cmds = el.getAttribute(ATTR_DO);
  if (q && !confirm(q)) return;
  if (cmds != null) run(el, cmds);
  if (cmds != null && !el.hasAttribute(ATTR_ACTION)) return;
  const { fields, files } = fieldsOf(el, e);
  const roots = to ? [...document.querySelectorAll(SEL_ROOT)].filter((r) => r.getAttribute(ATTR_ID) === to || r.getAttribute(ATTR_KIND) === to) : [el];
  for (const r of roots) act(r, el.getAttribute(ATTR_ACTION) || "", fields, el, files, !/^(submit|click)$/.test(e?.type) && e?.key !== "Enter" && !keyed);
}
