// Triggers: the delegated click and submit listeners, and the listeners,
// timers and observers data-flux-on asks for. A page handler that called
// preventDefault on an event first wins: the event sends nothing. Only a
// live element sends (dom.js live): markup outside every component, or in
// a data-flux-inert region, never does.
import { ATTR_ACTION, ATTR_DO, ATTR_ON } from "./protocol.js";
import { LIVE } from "./constants.js";
import { touch, trigger } from "./actions.js";
import { live } from "./dom.js";
import { keyMatches, parseTriggers } from "./grammar.js";

const box = (el) => /^(checkbox|radio)$/.test(el.type);

// listenDefaults listens for the triggers of elements without
// data-flux-on: click on any element, submit on a form; and notes the
// fields the user touches.
export function listenDefaults() {
  document.addEventListener("click", (e) => {
    const el = e.target.closest?.(`:is([${ATTR_ACTION}],[${ATTR_DO}])${LIVE}`);
    if (!el || el.tagName === "FORM" || el.hasAttribute(ATTR_ON) || e.defaultPrevented || !live(el)) return;
    if (!box(el)) e.preventDefault(); // a box keeps its new state
    trigger(el, e);
  });
  document.addEventListener("submit", (e) => {
    const form = e.target;
    if (e.defaultPrevented || !form.matches(`form:is([${ATTR_ACTION}],[${ATTR_DO}]):not([${ATTR_ON}])`) || !live(form)) return;
    e.preventDefault();
    trigger(form, e);
  });
  for (const type of ["input", "change", "blur"]) document.addEventListener(type, touch, true);
}

// bound: each element's data-flux-on and the AbortController of what it set up.
const bound = new Map();

// bind sets up the triggers of live elements whose data-flux-on is new or
// changed, and stops those of elements that are no longer live.
export function bind() {
  for (const [el, b] of bound) if (!live(el)) b.ac.abort(), bound.delete(el);
  for (const el of document.querySelectorAll(`[${ATTR_ON}]`)) {
    const spec = el.getAttribute(ATTR_ON), b = bound.get(el);
    if (b?.spec === spec || !live(el)) continue;
    b?.ac.abort();
    const ac = new AbortController();
    bound.set(el, { spec, ac });
    for (const t of parseTriggers(spec)) listen(el, t, ac.signal);
  }
}

function listen(el, t, signal) {
  let last = el.value, timer, at = 0, done;
  const go = (e) => {
    if (t.once && done) return;
    done = true;
    trigger(el, e, !!t.key);
  };
  const fire = (e) => {
    if (!live(el) || signal.aborted) return;
    if (e && (e.defaultPrevented || !keyMatches(t, e))) return;
    if (t.prevent || e?.type === "submit" || (e?.type === "click" && !box(el))) e?.preventDefault();
    if (t.stop) e?.stopPropagation();
    if (t.changed) {
      if (el.value === last) return;
      last = el.value;
    }
    if (t.debounce) clearTimeout(timer), (timer = setTimeout(go, t.debounce, e));
    else if (!t.throttle || Date.now() - at >= t.throttle) (at = Date.now()), go(e);
  };
  signal.addEventListener("abort", () => clearTimeout(timer));
  if (t.event === "load") return fire();
  if (t.event === "every") {
    const iv = setInterval(() => document.hidden || fire(), t.every);
    return signal.addEventListener("abort", () => clearInterval(iv));
  }
  if (t.event === "visible") {
    const io = new IntersectionObserver((es) => es.some((x) => x.isIntersecting) && fire());
    io.observe(el);
    return signal.addEventListener("abort", () => io.disconnect());
  }
  (t.window ? window : t.document ? document : el).addEventListener(t.event, fire, { signal });
}
