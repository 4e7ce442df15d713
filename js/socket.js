// The page's one WebSocket (PROTOCOL.md). Optional: actions fall back to HTTP.
import { ATTR_ID, ATTR_SOCKET, EV_CONNECTED, EV_DISCONNECTED, EV_ERROR, EV_MESSAGE, MSG_ACK, MSG_ERROR, MSG_EVENT, MSG_INIT, MSG_LEAVE, MSG_PATCH, MSG_REDIRECT, MSG_STREAM, MSG_UPDATE, MSG_URL, SUBPROTOCOL_DIFF, SUBPROTOCOL_V2 } from "./protocol.js";
import { SEL_ROOT, SOCKET_TRIES, STABLE_AFTER } from "./constants.js";
import { config } from "./config.js";
import { emit, findRoot, navigate } from "./dom.js";
import { lost } from "./http.js";
import { backoff } from "./rules.js";
import { applyStreams } from "./stream.js";
import { here, patch } from "./url.js";
import { apply, busy, fromDiff, views } from "./view.js";

// state: "disabled", "connecting", "open", "closed" or "failed" (given
// up: see connect); failed: handshakes that failed in a row; c: the
// socket, open or not; off: the page is hidden (see listenURL).
export const sock = { ws: null, state: "disabled", tries: 0, stable: 0, watched: new Set(), failed: 0 };

// setState sets the socket's state, which the document element shows
// (data-flux-socket) for the page's CSS.
export const setState = (s) => document.documentElement.setAttribute(ATTR_SOCKET, (sock.state = s));

// connect opens the socket; after a close it retries (backoff), forever
// once it has been open, else SOCKET_TRIES times: then the socket is
// unreachable (a proxy that does not pass WebSocket on) and the page stays
// on HTTP, saying so once.
export function connect() {
  const url = new URL(config.webSocketURL || config.endpoint, location.href);
  url.protocol = url.protocol.replace("http", "ws");
  // A handshake cannot carry headers: use the query.
  for (const [name, v] of Object.entries(config.headers)) url.searchParams.append(name, v);
  const ws = (sock.c = new WebSocket(url, [SUBPROTOCOL_V2, SUBPROTOCOL_DIFF]));
  setState("connecting");
  ws.onopen = () => {
    Object.assign(sock, { ws, failed: -Infinity, stable: setTimeout(() => (sock.tries = 0), STABLE_AFTER) });
    setState("open");
    wsSync(); // re-init every root: each gets a fresh rendering
    emit(document, EV_CONNECTED, {});
  };
  ws.onmessage = (e) => receive(e.data);
  ws.onclose = (e) => { // also after every error
    clearTimeout(sock.stable);
    sock.ws = null;
    setState("closed");
    sock.watched.clear();
    emit(document, EV_DISCONNECTED, { code: e.code, reason: e.reason });
    if (sock.off) return;
    if (++sock.failed < SOCKET_TRIES) return void setTimeout(connect, backoff(sock.tries++, Math.random()));
    setState("failed");
    emit(document, EV_ERROR, { status: 0, message: "WebSocket unreachable: actions go over HTTP" });
  };
}

// send sends msg if the socket is open and says whether it did.
export function send(msg) {
  if (sock.ws?.readyState !== WebSocket.OPEN) return false;
  sock.ws.send(JSON.stringify(msg));
  return true;
}

// wsSync sends `init` for new roots, and the page's URL to those that live
// in it; `leave` for removed ones.
export function wsSync() {
  if (sock.state !== "open") return;
  const ids = new Set([...document.querySelectorAll(SEL_ROOT)].map((r) => r.getAttribute(ATTR_ID)));
  for (const id of ids) {
    if (sock.watched.has(id)) continue;
    sock.watched.add(id);
    send({ type: MSG_INIT, componentID: id });
    views.get(id)?.url && send({ type: MSG_URL, componentID: id, data: { url: here() } });
  }
  for (const id of sock.watched) if (!ids.has(id)) sock.watched.delete(id), send({ type: MSG_LEAVE, componentID: id });
}

// receive handles a server frame, then emits it as liveflux:message.
function receive(raw) {
  const m = JSON.parse(raw), id = m?.componentID, type = m?.type, data = m?.data || {}, v = views.get(id);
  if ([MSG_UPDATE, MSG_REDIRECT, MSG_ERROR, MSG_ACK].includes(type)) busy(id, null, false);
  if (type === MSG_UPDATE && v) v.ev = []; // the events of this answer, for a redirect after
  if (type === MSG_UPDATE) {
    const [step, html] = data.diff || data.edits ? fromDiff(id, data) : ["apply", data.html];
    if (step === "resync") send({ type: MSG_INIT, componentID: id });
    if (html) apply(id, html, v?.own);
    if (v) v.own = null;
  }
  if (type === MSG_STREAM) applyStreams(id, data.ops);
  if (type === MSG_REDIRECT && data.url) navigate(data.url, id, 0, v?.ev);
  if (type === MSG_PATCH && data.url) patch(data.url, data.replace);
  if (type === MSG_ERROR) lost(id, m.code, m.message);
  if (type === MSG_EVENT && data.name) v?.ev?.push(data), emit(findRoot(id), data.name, data.detail); // liveflux.Emit
  emit(findRoot(id), EV_MESSAGE, m);
}
