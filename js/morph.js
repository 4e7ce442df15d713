// morphRoot morphs root into html unless that is older (lower data-flux-rev)
// and returns the root now in the page. The focused control keeps focus,
// value and selection.
function morphRoot(root, html) {
  const next = parseHTML(html), rev = (el) => +el.getAttribute(ATTR_REV) || 0;
  if (!root || !next || (rev(next) && rev(next) < rev(root))) return root;
  const id = root.getAttribute(ATTR_ID), v = viewOf(root);
  // The body (markup inside the root) is what diff updates patch.
  Object.assign(v, { rev: rev(next), body: html.slice(html.indexOf(">") + 1, -6) });
  const a = root.contains(document.activeElement) && document.activeElement;
  const value = a?.value, sel = [a?.selectionStart, a?.selectionEnd, a?.selectionDirection];
  const out = morphdom(root, next, {
    // Keep a nested component's root while the same one is rendered there.
    onBeforeElUpdated(from, to) {
      const fid = from.getAttribute(ATTR_ID), tid = to.getAttribute(ATTR_ID);
      return from === root || !fid || from.getAttribute(ATTR_KIND) !== to.getAttribute(ATTR_KIND) || (!!tid && tid !== fid);
    },
  });
  if (a?.isConnected) {
    if (a.value !== value && !/^(checkbox|radio|file|submit|button|reset|image)$/.test(a.type)) a.value = value;
    a.focus({ preventScroll: true });
    try {
      if (a.selectionStart !== sel[0] || a.selectionEnd !== sel[1]) a.setSelectionRange(...sel);
    } catch {} // not a text control
  }
  if (views.get(id)?.busy) setBusy(id, true); // the new markup lacks the mark
  emit(out, EV_UPDATED, { componentID: out.getAttribute(ATTR_ID), kind: out.getAttribute(ATTR_KIND) });
  scan(); // mount new placeholders
  return out;
}

// patchHTML rebuilds the full rendering a diff update describes
// (PROTOCOL.md), or returns null when this page lacks the rendering it is
// based on; a stale diff (older than what is shown) also gives null.
function patchHTML(id, { rev, base, diff: [p, s, text] }) {
  const root = findRoot(id), v = root && viewOf(root);
  if (!root || rev <= (v.rev || 0)) return null;
  if (v.rev !== base) { // missed one: ask for a full rendering
    wsSend({ type: "init", componentID: id });
    return null;
  }
  const q = (a) => `"${root.getAttribute(a).replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;")}"`;
  return `<div ${ATTR_KIND}=${q(ATTR_KIND)} ${ATTR_ID}=${q(ATTR_ID)} ${ATTR_REV}="${rev}">${v.body.slice(0, p)}${text}${v.body.slice(v.body.length - s)}</div>`;
}
