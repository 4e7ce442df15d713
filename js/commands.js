// Client commands (data-flux-do): what an element's triggers change in the
// page without a round trip. What they set on an element (attributes, the
// hidden attribute, classes) survives the morphs of later updates (reapply).
import { EV_ERROR } from "./protocol.js";
import { emit } from "./dom.js";
import { parseCommands } from "./grammar.js";

// sticky: by element, what commands set: {NAME: value, null: removed} for
// attributes, {".NAME": true or false} for classes.
const sticky = new WeakMap();

// put sets one of them on el.
function put(el, key, v) {
  if (key[0] === ".") el.classList.toggle(key.slice(1), v);
  else v == null ? el.removeAttribute(key) : el.setAttribute(key, v);
}

function set(el, key, v) {
  put(el, key, v);
  sticky.has(el) || sticky.set(el, {});
  sticky.get(el)[key] = v;
}

// reapply gives to, the element an update morphs el into, what commands set
// on el.
export function reapply(el, to) {
  for (const [key, v] of Object.entries(sticky.get(el) || {})) put(to, key, v);
}

// ms reads the first of a CSS list of times ("0.2s, 1s") in ms.
const ms = (t) => parseFloat(t) * (/\dms/.test(t) ? 1 : 1000) || 0;

// shown shows or hides el (the hidden attribute). With a transition class
// t, the class of its hidden look: on show, el starts with it and goes to
// its own look; on hide, it goes to t, then is hidden once its CSS
// transition is over.
function shown(el, show, t) {
  const c = el.classList;
  if (show) {
    set(el, "hidden", null);
    if (t) c.add(t), el.offsetWidth, c.remove(t); // the start is drawn, then the transition runs
  } else if (!t) set(el, "hidden", "");
  else {
    const s = getComputedStyle(el);
    c.add(t);
    setTimeout(() => c.contains(t) && (c.remove(t), set(el, "hidden", "")), ms(s.transitionDuration) + ms(s.transitionDelay));
  }
}

const each = (f) => (el, names) => names.forEach((n) => f(el, n));
const VERBS = {
  show: (el, [t]) => shown(el, true, t),
  hide: (el, [t]) => shown(el, false, t),
  toggle: (el, [t]) => shown(el, el.hidden, t),
  "add-class": each((el, n) => set(el, "." + n, true)),
  "remove-class": each((el, n) => set(el, "." + n, false)),
  "toggle-class": each((el, n) => set(el, "." + n, !el.classList.contains(n))),
  "set-attr": (el, [n, ...v]) => set(el, n, v.join(".")),
  "remove-attr": (el, [n]) => set(el, n, null),
  focus: (el) => el.focus(),
  dispatch: (el, [n]) => el.dispatchEvent(new CustomEvent(n, { bubbles: true })),
};

// run runs el's commands, spec (data-flux-do). A command's targets are
// el, or those its selector matches in the page (focus: the first), or,
// with "closest SEL", el's closest ancestor matching SEL. An unknown verb
// or a bad selector is reported as liveflux:error, and the rest run.
export function run(el, spec) {
  for (const { verb, args, to } of parseCommands(spec)) {
    let els;
    try {
      els = !to ? [el] : to.startsWith("closest ") ? [el.closest(to.slice(8))] : [...document.querySelectorAll(to)];
    } catch {}
    if (!VERBS[verb] || !els) emit(el, EV_ERROR, { status: 0, message: `data-flux-do: cannot run "${verb} ${to}"` });
    else for (const t of verb === "focus" ? els.slice(0, 1) : els) t && VERBS[verb](t, args);
  }
}
