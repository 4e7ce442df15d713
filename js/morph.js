// Morphing, DOM only: it sends no message and dispatches no event of the
// client's; view.js decides what to morph and reports it.
import { ATTR_ID, ATTR_IGNORE, ATTR_KEY, ATTR_KIND, ATTR_STREAM } from "./protocol.js";
import { LIVE } from "./constants.js";
import { reapply } from "./commands.js";

let morphing = 0; // morphs under way (keepFocus nests)

// guardFocus stops the focus events a morph causes: moving the focused
// input makes the browser blur and focus it, and neither page handlers nor
// triggers (blur checks) must take that for the user leaving the field.
export function guardFocus() {
  for (const type of ["focus", "blur", "focusin", "focusout"]) window.addEventListener(type, (e) => morphing > 0 && e.stopImmediatePropagation(), true);
}

// keyOf is an element's identity through morphs: a stream's container is
// known by its stream (so that it keeps its items when the markup around
// it changes); another element by its data-flux-key among the children of
// its parent (named by the parent's key or id), else by its id.
const keyOf = (n) => {
  if (n.nodeType !== 1) return undefined;
  const s = n.getAttribute(ATTR_STREAM), k = n.getAttribute(ATTR_KEY), p = n.parentNode;
  if (s && n.matches(LIVE)) return `\0stream\0${s}`;
  return k ? `${p?.getAttribute?.(ATTR_KEY) || p?.id || ""}\0${k}` : n.id || undefined;
};

// keepFocus runs fn, which changes the DOM in and around root, and gives
// the control focused in root its focus and selection back, with its
// typed text unless keepValue says not to (see morph). It returns fn's
// result.
export function keepFocus(root, keepValue, fn) {
  const a = root.contains(document.activeElement) && document.activeElement;
  const value = a?.value, sel = [a?.selectionStart, a?.selectionEnd, a?.selectionDirection];
  const keep = a && keepValue(a, value);
  morphing++;
  try {
    const out = fn();
    if (a?.isConnected) {
      if (keep && a.value !== value && !/^(checkbox|radio|file|submit|button|reset|image)$/.test(a.type)) a.value = value;
      if (document.activeElement !== a) a.focus({ preventScroll: true });
      try {
        if (keep && (a.selectionStart !== sel[0] || a.selectionEnd !== sel[1])) a.setSelectionRange(...sel);
      } catch {} // not a text control
    }
    return out;
  } finally {
    morphing--;
  }
}

// morph morphs root into next (an element) and returns the root now in the
// page. Elements marked data-flux-ignore and nested components' roots are
// left alone, unless in a data-flux-inert region, which is morphed as
// plain markup; so are the items of a stream's container. Keyed elements
// (id, data-flux-key) are moved rather than made again. The focused
// control keeps focus and selection, and its typed text unless own ({el,
// value}) says the update answers an action sent from it with value, and
// nothing was typed since: then the server's value wins (a chat box the
// server renders empty is emptied). What client commands set stays
// (reapply); an element with autofocus the morph adds takes the focus.
export function morph(root, next, own) {
  let auto;
  const out = keepFocus(root, (a, value) => !(own?.el === a && own.value === value), () =>
    morphdom(root, next, {
      getNodeKey: keyOf,
      onNodeAdded: (n) => (auto ||= n.autofocus && n),
      onBeforeElUpdated(from, to) {
        reapply(from, to);
        // Ignored elements, and a nested component's root while the same one
        // is rendered there, are kept, unless inert (the cheap tests first:
        // LIVE looks at every ancestor).
        const fid = from.getAttribute(ATTR_ID), tid = to.getAttribute(ATTR_ID);
        const keep = from.hasAttribute(ATTR_IGNORE) || (from !== root && !!fid && from.getAttribute(ATTR_KIND) === to.getAttribute(ATTR_KIND) && (!tid || tid === fid));
        return !keep || !from.matches(LIVE) || !to.matches(LIVE);
      },
      onBeforeElChildrenUpdated: (from) => !(from.hasAttribute(ATTR_STREAM) && from.matches(LIVE)),
    }),
  );
  auto?.focus();
  return out;
}
