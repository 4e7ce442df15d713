// The page's one WebSocket (PROTOCOL.md). Optional: actions fall back to HTTP.
const sock = { ws: null, state: "disabled", tries: 0, stable: 0, watched: new Set() };

// connect opens the socket; after a close it retries forever, with exponential
// backoff and full jitter.
function connect() {
  const url = new URL(config.webSocketURL || config.endpoint, location.href);
  url.protocol = url.protocol.replace("http", "ws");
  // A handshake cannot carry headers: use the query.
  for (const [name, v] of Object.entries(config.headers)) url.searchParams.append(name, v);
  const ws = new WebSocket(url, [SUBPROTOCOL_DIFF]);
  sock.state = "connecting";
  ws.onopen = () => {
    Object.assign(sock, { ws, state: "open", stable: setTimeout(() => (sock.tries = 0), STABLE_AFTER) });
    wsSync(); // re-init every root: each gets a fresh rendering
    emit(document, EV_CONNECTED, {});
  };
  ws.onmessage = (e) => wsReceive(e.data);
  ws.onclose = (e) => { // also after every error
    clearTimeout(sock.stable);
    Object.assign(sock, { ws: null, state: "closed" });
    sock.watched.clear();
    emit(document, EV_DISCONNECTED, { code: e.code, reason: e.reason });
    setTimeout(connect, Math.random() * Math.min(BACKOFF_CAP, BACKOFF_BASE * 2 ** sock.tries++));
  };
}

function wsSend(msg) {
  if (sock.ws?.readyState !== WebSocket.OPEN) return false;
  sock.ws.send(JSON.stringify(msg));
  return true;
}

// wsSync sends `init` for new roots, `leave` for removed ones.
function wsSync() {
  if (sock.state !== "open") return;
  const ids = new Set([...document.querySelectorAll(SEL_ROOT)].map((r) => r.getAttribute(ATTR_ID)));
  for (const id of ids) if (!sock.watched.has(id)) sock.watched.add(id), wsSend({ type: "init", componentID: id });
  for (const id of sock.watched) if (!ids.has(id)) sock.watched.delete(id), wsSend({ type: "leave", componentID: id });
}

// wsReceive handles a server frame, then emits it as liveflux:message.
function wsReceive(raw) {
  const m = JSON.parse(raw), id = m?.componentID, type = m?.type, data = m?.data || {};
  if (/^(update|redirect|error|ack)$/.test(type)) setBusy(id, false);
  if (type === "update") morphRoot(findRoot(id), data.diff ? patchHTML(id, data) : data.html);
  if (type === "redirect" && data.url) navigate(data.url, id);
  if (type === "error") lost(id, m.code, m.message);
  emit(findRoot(id), EV_MESSAGE, m);
}
