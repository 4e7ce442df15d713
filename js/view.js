// Instance state by ID and what the page shows of it: renderings applied,
// actions in flight and their loading states, lifecycle events.
import { ATTR_DISABLE_WITH, ATTR_ERROR, ATTR_ID, ATTR_KIND, ATTR_LOADING, ATTR_LOADING_FOR, ATTR_PARAM, ATTR_PROGRESS, ATTR_REV, ATTR_SEALED, ATTR_URL, CLASS_BUSY, EV_MOUNTED, EV_PROGRESS, EV_REMOVED, EV_UPDATED } from "./protocol.js";
import { BUSY_TIMEOUT } from "./constants.js";
import { attrsWithPrefix, emit, findRoot, inside, parseHTML } from "./dom.js";
import { loadingOn, parseLoading } from "./grammar.js";
import { morph } from "./morph.js";
import { applyDiff, applyEdits, bodyOf, diffStep, isStale, rootHTML } from "./rules.js";

// views: {params, sealed, url, kind, rev, body, jobs, timer, own, err, ev}
// by ID. The mount params (from data-flux-param-* and data-flux-sealed at
// first sight) outlive morphs, to re-mount a lost instance; url: it lives
// in the URL (data-flux-url); rev and body are the last rendering applied,
// which diff updates patch; jobs are the actions in flight ({action, el});
// own is what the next socket update answers (see morph); err is the
// message of its last failed action ("" once another started); ev are the
// events of its last socket answer.
export const views = new Map();

// viewOf returns root's state; the first time, the component has mounted.
export function viewOf(root) {
  const id = root.getAttribute(ATTR_ID);
  let v = views.get(id);
  if (!v) {
    const params = attrsWithPrefix(root, ATTR_PARAM), sealed = root.getAttribute(ATTR_SEALED);
    views.set(id, (v = { params, sealed, url: root.hasAttribute(ATTR_URL), kind: root.getAttribute(ATTR_KIND), jobs: [] }));
    paint(id);
    emit(root, EV_MOUNTED, { componentID: id, kind: v.kind });
  }
  return v;
}

// sweep forgets the components that left the page.
export function sweep() {
  for (const [id, v] of views) {
    if (!findRoot(id)) {
      views.delete(id);
      clearTimeout(v.timer);
      emit(document, EV_REMOVED, { componentID: id, kind: v.kind });
    }
  }
}

// busy adds job ({action, el}) to instance id's actions in flight, or
// takes it out (job null: all of them, as a socket reply does). A job ends
// by itself after BUSY_TIMEOUT.
export function busy(id, job, on) {
  const v = views.get(id);
  if (!v) return;
  v.jobs = on ? [...v.jobs, job] : job ? v.jobs.filter((j) => j !== job) : [];
  if (on && v.err) v.err = "";
  clearTimeout(v.timer);
  if (v.jobs.length) v.timer = setTimeout(() => busy(id, null, false), BUSY_TIMEOUT);
  paint(id);
}

// held: the controls a loading state disabled, with what they were.
const held = new WeakMap();

// hold disables el (showing text, if given) while on, and gives it back
// its state after: its own child nodes, never markup parsed again.
function hold(el, on, text) {
  const s = held.get(el);
  if (on) {
    s || held.set(el, { disabled: el.disabled, nodes: [...el.childNodes] });
    el.disabled = true;
    if (text != null) el.textContent = text;
  } else if (s) {
    held.delete(el);
    el.disabled = s.disabled;
    if (text != null) el.replaceChildren(...s.nodes);
  }
}

// paint shows instance id's actions in flight: flux-busy and aria-busy on
// its root, and its elements' loading states; and its last error in its
// data-flux-error regions.
export function paint(id) {
  const root = findRoot(id), v = views.get(id), jobs = v?.jobs || [];
  if (!root) return;
  if (v?.err != null) for (const el of inside(root, `[${ATTR_ERROR}]`)) (el.textContent = v.err), (el.hidden = !v.err);
  root.classList.toggle(CLASS_BUSY, jobs.length > 0);
  if (jobs.length) root.setAttribute("aria-busy", "true");
  else root.removeAttribute("aria-busy");
  for (const el of inside(root, `[${ATTR_LOADING}]`)) {
    const on = loadingOn(el.getAttribute(ATTR_LOADING_FOR), jobs.map((j) => j.action));
    for (const { effect, arg } of parseLoading(el.getAttribute(ATTR_LOADING))) {
      if (effect === "show" || effect === "hide") el.hidden = on === (effect === "hide");
      if (effect === "class") el.classList.toggle(arg, on);
      if (effect === "disable") hold(el, on);
    }
  }
  for (const b of inside(root, `[${ATTR_DISABLE_WITH}]`)) {
    hold(b, jobs.some((j) => j.el && (j.el === b || j.el === b.form)), b.getAttribute(ATTR_DISABLE_WITH));
  }
}

// progress reports an upload's progress: liveflux:progress, and the value
// of the root's data-flux-progress elements (a <progress> from 0 to its
// max, any other through the CSS property --flux-progress, 0 to 1).
export function progress(id, action, loaded, total) {
  const root = findRoot(id), f = total ? loaded / total : 0;
  for (const el of root ? inside(root, `[${ATTR_PROGRESS}]`) : []) {
    if (el.tagName === "PROGRESS") el.value = f * el.max;
    el.style.setProperty("--flux-progress", f);
  }
  emit(root, EV_PROGRESS, { componentID: id, action, loaded, total });
}

// apply morphs the rendering html into instance id's root unless it is
// stale, and returns the root in the page; own as for morph.
export function apply(id, html, own) {
  const root = findRoot(id), next = html && parseHTML(html), rev = (el) => +el.getAttribute(ATTR_REV) || 0;
  if (!root || !next || isStale(rev(next), rev(root))) return root;
  const v = viewOf(root), out = morph(root, next, own);
  Object.assign(v, { rev: rev(next), body: bodyOf(html) });
  paint(id);
  emit(out, EV_UPDATED, { componentID: id, kind: v.kind });
  return out;
}

// fromDiff returns [step, html]: the full rendering a diff update (of one
// span, or edits) describes when step is "apply" (diffStep).
export function fromDiff(id, data) {
  const root = findRoot(id), v = root && viewOf(root);
  const step = v ? diffStep(v.rev || 0, data) : "stale";
  const body = step === "apply" && (data.edits ? applyEdits(v.body, data.edits) : applyDiff(v.body, data.diff));
  return [step, step === "apply" && rootHTML(v.kind, id, data.rev, body)];
}
