// Entry point. Each event is one bubbling CustomEvent, dispatched on the root
// concerned while it is in the page (so its ancestors and document see it),
// else on document. liveflux:mounted, :updated {componentID, kind};
// :message (the WebSocket frame); :error {status (0: network, or a refused
// redirect), message, componentID?, kind?, remounted (a lost instance was
// re-mounted)}; :connected {}; :disconnected {code, reason}.

const config = { endpoint: "/liveflux", headers: {}, ...JSON.parse(document.currentScript?.dataset.livefluxConfig || "{}") };
const mounting = new WeakSet();

// mount resolves to the root that replaces placeholder el, or null.
async function mount(el) {
  if (!el?.hasAttribute(ATTR_KIND) || el.hasAttribute(ATTR_ID) || mounting.has(el)) return null;
  mounting.add(el);
  return mountInto(el, el.getAttribute(ATTR_KIND), attrsWithPrefix(el, ATTR_PARAM));
}

// act runs action on a component given by ID, root or inner element, over the
// socket when open, else over HTTP.
async function act(target, action, fields = {}) {
  const root = typeof target === "string" ? findRoot(target) : target?.closest(SEL_ROOT);
  if (!root) return;
  const id = root.getAttribute(ATTR_ID), data = Object.create(null);
  for (const [name, v] of Object.entries(fields)) data[name] = Array.isArray(v) ? v.map(String) : String(v);
  setBusy(id, true);
  if (wsSend({ type: "action", componentID: id, action, data })) return;
  try {
    await actHTTP(root, action, data);
  } finally {
    setBusy(id, false);
  }
}

// scan mounts placeholders, notes roots and syncs the socket; idempotent.
function scan() {
  for (const el of document.querySelectorAll(SEL_PLACEHOLDER)) mount(el);
  for (const root of document.querySelectorAll(SEL_ROOT)) viewOf(root);
  wsSync();
}

if (!window.Liveflux) {
  // Delegated listeners; page handlers that called preventDefault win.
  document.addEventListener("click", (e) => {
    const el = e.target.closest?.(`[${ATTR_ACTION}]`);
    if (!el || el.tagName === "FORM" || e.defaultPrevented || !el.closest(SEL_ROOT)) return;
    const box = /^(checkbox|radio)$/.test(el.type), name = el.getAttribute("name");
    if (!box) e.preventDefault(); // a box keeps its new state
    const fields = attrsWithPrefix(el, ATTR_VALUE);
    if (name && (!box || el.checked)) addField(fields, name, el.value ?? el.getAttribute("value") ?? "");
    act(el, el.getAttribute(ATTR_ACTION), fields);
  });
  document.addEventListener("submit", (e) => {
    const form = e.target, s = e.submitter;
    if (e.defaultPrevented || !form.matches(`form[${ATTR_ACTION}]`) || !form.closest(SEL_ROOT)) return;
    e.preventDefault();
    const fields = attrsWithPrefix(form, ATTR_VALUE);
    for (const [name, v] of new FormData(form)) if (typeof v === "string") addField(fields, name, v); // files are not sent
    if (s?.name) addField(fields, s.name, s.value);
    act(form, form.getAttribute(ATTR_ACTION), fields);
  });

  const start = () => {
    scan();
    new MutationObserver(scan).observe(document, { childList: true, subtree: true, attributeFilter: [ATTR_KIND, ATTR_ID] });
    if (config.useWebSocket) connect();
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();

  window.Liveflux = Object.freeze({
    version: VERSION,
    mount,
    action: act,
    get socketState() { // "disabled", "connecting", "open" or "closed"
      return sock.state;
    },
  });
}
