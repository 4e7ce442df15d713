// HTTP transport: mounts, actions while the socket is not open, and
// actions that carry files.
import { ATTR_KIND, EV_ERROR, FIELD_ID, FIELD_KIND, FIELD_SEALED, FIELD_URL, HEADER_REDIRECT, MEDIA_ANSWER } from "./protocol.js";
import { config } from "./config.js";
import { emit, findRoot, navigate, parseHTML } from "./dom.js";
import { here } from "./url.js";
import { paint, viewOf } from "./view.js";

// post sends fields, and files ([name, File] pairs) as multipart, and
// resolves to {ok, status, text, events, streams, patch} (status 0:
// network failure or an answer that is not one; events: those the
// component emitted, [{name, detail}], which come in the body, however
// large; streams: the operations on its streams; patch: the page's new
// URL, {url, replace}), or to nothing after following a redirect, which
// carries the flashes among the events (a refused one is reported and the
// answer returned as usual). onProgress(loaded, total) follows the upload.
export function post(fields, files, onProgress) {
  return new Promise((resolve) => {
    const x = new XMLHttpRequest(), body = files?.length ? new FormData() : new URLSearchParams();
    for (const [name, v] of Object.entries(fields)) for (const s of [].concat(v)) body.append(name, s);
    for (const [name, f] of files || []) body.append(name, f);
    x.open("POST", config.endpoint);
    x.setRequestHeader("Accept", MEDIA_ANSWER);
    for (const [name, v] of Object.entries(config.headers)) x.setRequestHeader(name, v);
    // A browser may send a body without a single progress event (fast,
    // on loopback): once answered, the upload is complete, and the last
    // report says so.
    let sent = 0, size = 0;
    const report = onProgress && ((loaded, total) => ((sent = loaded), (size = total), onProgress(loaded, total)));
    if (report) x.upload.onprogress = (e) => report(e.loaded, e.total);
    x.onload = () => {
      if (report && (!size || sent < size)) {
        size ||= files.reduce((n, [, f]) => n + f.size, 0);
        report(size, size);
      }
      const to = x.getResponseHeader(HEADER_REDIRECT), ok = x.status < 300;
      let a = {};
      try {
        a = ok ? JSON.parse(x.responseText) : {};
      } catch {
        return resolve({ status: 0, text: "malformed answer" });
      }
      if (to && navigate(to, fields[FIELD_ID], fields[FIELD_KIND], a.events)) return resolve();
      resolve({ ok, status: x.status, text: ok ? a.html : x.responseText.trim(), events: a.events || [], streams: a.streams || [], patch: a.patch });
    };
    x.onerror = x.ontimeout = () => resolve({ status: 0, text: "network error" });
    x.send(body);
  });
}

// mountInto mounts kind with params (and sealed ones, as the server gave
// them) at the page's URL, and puts the new root in place of el.
export async function mountInto(el, kind, params, sealed) {
  const r = await post({ ...params, [FIELD_KIND]: kind, [FIELD_URL]: here(), ...(sealed && { [FIELD_SEALED]: sealed }) });
  if (r && !r.ok) emit(el, EV_ERROR, { status: r.status, message: r.text, kind });
  const root = r?.ok && el.parentNode && parseHTML(r.text);
  if (!root) return null;
  el.replaceWith(root);
  viewOf(root).params = params;
  return root;
}

// lost reports a failure for instance id; on 404 (lost instance) it first
// re-mounts it from its original params, else its data-flux-error regions
// show the message.
export async function lost(id, status, message) {
  const root = findRoot(id), kind = root?.getAttribute(ATTR_KIND), v = root && viewOf(root);
  const fresh = status === 404 && root && (await mountInto(root, kind, v.params, v.sealed));
  if (v && !fresh) (v.err = message || "network error"), paint(id);
  emit(fresh || findRoot(id), EV_ERROR, { status, message, componentID: id, kind, remounted: !!fresh });
}
