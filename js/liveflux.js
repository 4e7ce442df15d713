// Entry point: mounts placeholders, watches the page, listens for
// triggers and publishes window.Liveflux. Each event is one bubbling
// CustomEvent, dispatched on the root concerned while it is in the page
// (so its ancestors and document see it), else on document; README.md
// gives each one's detail.
import { ATTR_ID, ATTR_INERT, ATTR_KIND, ATTR_ON, ATTR_PARAM, ATTR_SEALED } from "./protocol.js";
import { SEL_PLACEHOLDER, SEL_ROOT, VERSION } from "./constants.js";
import { act } from "./actions.js";
import { config } from "./config.js";
import { attrsWithPrefix } from "./dom.js";
import { mountInto } from "./http.js";
import { guardFocus } from "./morph.js";
import { connect, setState, sock, wsSync } from "./socket.js";
import { bind, listenDefaults } from "./triggers.js";
import { listenURL } from "./url.js";
import { sweep, viewOf } from "./view.js";

const mounting = new WeakSet();

// mount resolves to the root that replaces placeholder el, or null.
async function mount(el) {
  if (!el?.hasAttribute(ATTR_KIND) || el.hasAttribute(ATTR_ID) || mounting.has(el)) return null;
  mounting.add(el);
  return mountInto(el, el.getAttribute(ATTR_KIND), attrsWithPrefix(el, ATTR_PARAM), el.getAttribute(ATTR_SEALED));
}

// scan mounts placeholders, notes roots new and gone, sets up triggers and
// syncs the socket; idempotent.
function scan() {
  for (const el of document.querySelectorAll(SEL_PLACEHOLDER)) mount(el);
  for (const root of document.querySelectorAll(SEL_ROOT)) viewOf(root);
  sweep();
  bind();
  wsSync();
}

if (!window.Liveflux) {
  guardFocus();
  listenDefaults();
  setState(sock.state);
  const start = () => {
    listenURL();
    scan();
    new MutationObserver(scan).observe(document, { childList: true, subtree: true, attributeFilter: [ATTR_KIND, ATTR_ID, ATTR_ON, ATTR_INERT] });
    if (config.useWebSocket) connect();
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();

  window.Liveflux = Object.freeze({
    version: VERSION,
    mount,
    action: (target, action, fields) => act(target, action, fields),
    get socketState() {
      return sock.state;
    },
  });
}
