// Instance state by ID: {params, busy, rev, body}. The mount params (from
// data-flux-param-* at first sight) outlive morphs, to re-mount a lost
// instance; rev and body are the last rendering applied, which diff updates
// patch.
const views = new Map();

function viewOf(root) {
  const id = root.getAttribute(ATTR_ID);
  if (!views.has(id)) views.set(id, { params: attrsWithPrefix(root, ATTR_PARAM), busy: 0 });
  return views.get(id);
}

// setBusy shows whether a request for instance id is in flight (for
// BUSY_TIMEOUT at most).
function setBusy(id, on) {
  const root = findRoot(id), v = views.get(id) || (root && viewOf(root));
  if (!v) return;
  clearTimeout(v.busy);
  v.busy = on && setTimeout(() => setBusy(id, false), BUSY_TIMEOUT);
  if (!root) return;
  root.classList.toggle(CLASS_BUSY, on);
  if (on) root.setAttribute("aria-busy", "true");
  else root.removeAttribute("aria-busy");
}
