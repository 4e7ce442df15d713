// Morphing, DOM only: it sends no message and dispatches no event of the
// client's; view.js decides what to morph and reports it.
import { ATTR_ID, ATTR_IGNORE, ATTR_KIND } from "./protocol.js";
import { LIVE } from "./constants.js";
import { reapply } from "./commands.js";

let morphing = false;

// guardFocus stops the focus events a morph causes: moving the focused
// input makes the browser blur and focus it, and neither page handlers nor
// triggers (blur checks) must take that for the user leaving the field.
export function guardFocus() {
  for (const type of ["focus", "blur", "focusin", "focusout"]) window.addEventListener(type, (e) => morphing && e.stopImmediatePropagation(), true);
}

// morph morphs root into next (an element) and returns the root now in the
// page. Elements marked data-flux-ignore and nested components' roots are
// left alone, unless in a data-flux-inert region, which is morphed as
// plain markup. The focused control keeps focus and selection, and its typed
// text unless own ({el, value}) says the update answers an action sent
// from it with value, and nothing was typed since: then the server's
// value wins (a chat box the server renders empty is emptied). What client
// commands set stays (reapply); an element with autofocus the morph adds
// takes the focus.
export function morph(root, next, own) {
  const a = root.contains(document.activeElement) && document.activeElement;
  let auto;
  const value = a?.value, sel = [a?.selectionStart, a?.selectionEnd, a?.selectionDirection];
  const keep = a && !(own?.el === a && own.value === value);
  morphing = true;
  try {
    const out = morphdom(root, next, {
      onNodeAdded: (n) => (auto ||= n.autofocus && n),
      onBeforeElUpdated(from, to) {
        reapply(from, to);
        if (!from.matches(LIVE) || !to.matches(LIVE)) return true;
        if (from.hasAttribute(ATTR_IGNORE)) return false;
        // Keep a nested component's root while the same one is rendered there.
        const fid = from.getAttribute(ATTR_ID), tid = to.getAttribute(ATTR_ID);
        return from === root || !fid || from.getAttribute(ATTR_KIND) !== to.getAttribute(ATTR_KIND) || (!!tid && tid !== fid);
      },
    });
    if (a?.isConnected) {
      if (keep && a.value !== value && !/^(checkbox|radio|file|submit|button|reset|image)$/.test(a.type)) a.value = value;
      if (document.activeElement !== a) a.focus({ preventScroll: true });
      try {
        if (keep && (a.selectionStart !== sel[0] || a.selectionEnd !== sel[1])) a.setSelectionRange(...sel);
      } catch {} // not a text control
    }
    auto?.focus();
    return out;
  } finally {
    morphing = false;
  }
}
