// HTTP transport: mounts, and actions while the socket is not open.

// post returns {ok, status, text} (status 0: network failure), or nothing
// after following a redirect. A refused redirect is reported and the answer
// returned as usual.
async function post(fields) {
  const body = new URLSearchParams();
  for (const [name, v] of Object.entries(fields)) for (const x of [].concat(v)) body.append(name, x);
  try {
    const res = await fetch(config.endpoint, { method: "POST", body, headers: config.headers, credentials: "same-origin" });
    const to = res.headers.get(HEADER_REDIRECT);
    if (to && navigate(to, fields[FIELD_ID], fields[FIELD_KIND])) return;
    return { ok: res.ok, status: res.status, text: (await res.text()).trim() };
  } catch (err) {
    return { status: 0, text: String(err) };
  }
}

// mountInto mounts kind with params and puts the new root in place of el.
async function mountInto(el, kind, params) {
  const r = await post({ ...params, [FIELD_KIND]: kind });
  if (r && !r.ok) emit(el, EV_ERROR, { status: r.status, message: r.text, kind });
  const root = r?.ok && el.parentNode && parseHTML(r.text);
  if (!root) return null;
  el.replaceWith(root);
  viewOf(root).params = params;
  emit(root, EV_MOUNTED, { componentID: root.getAttribute(ATTR_ID), kind });
  return root;
}

// actHTTP runs action on root's instance and applies the answer.
async function actHTTP(root, action, fields) {
  const id = root.getAttribute(ATTR_ID);
  const f = { ...fields, [FIELD_KIND]: root.getAttribute(ATTR_KIND), [FIELD_ID]: id };
  if (action) f[FIELD_ACTION] = action;
  const r = await post(f);
  if (r?.ok) morphRoot(findRoot(id), r.text);
  else if (r) lost(id, r.status, r.text);
}

// lost reports a failure for instance id; on 404 (lost instance) it first
// re-mounts it from its original params.
async function lost(id, status, message) {
  const root = findRoot(id), kind = root?.getAttribute(ATTR_KIND);
  const fresh = status === 404 && root && (await mountInto(root, kind, viewOf(root).params));
  emit(fresh || findRoot(id), EV_ERROR, { status, message, componentID: id, kind, remounted: !!fresh });
}
