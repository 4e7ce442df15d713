// DOM helpers without state.

function findRoot(id) {
  return document.querySelector(`[${ATTR_ID}="${CSS.escape(id)}"]`);
}

// attrsWithPrefix returns {NAME: value} for el's attributes prefix+NAME.
function attrsWithPrefix(el, prefix) {
  const out = Object.create(null);
  for (const a of el.attributes) if (a.name.startsWith(prefix)) out[a.name.slice(prefix.length)] = a.value;
  return out;
}

// addField adds value under name; repeated names get arrays.
function addField(fields, name, value) {
  const old = fields[name];
  fields[name] = old === undefined ? value : [].concat(old, value);
}

// emit dispatches a bubbling event on target if in the page, else on document.
function emit(target, name, detail) {
  (target?.isConnected ? target : document).dispatchEvent(new CustomEvent(name, { bubbles: true, detail }));
}

// navigate follows a redirect the server asked for, resolved against the
// page, only to an http(s) URL: anything else (javascript:, data:, …, in any
// case, after any blanks) is refused and reported as liveflux:error. Returns
// whether it navigated.
function navigate(to, componentID, kind) {
  let url = null;
  try {
    url = typeof to === "string" && new URL(to, location.href);
  } catch {}
  if (/^https?:$/.test(url?.protocol)) return location.assign(url.href), true;
  const root = componentID && findRoot(componentID);
  emit(root, EV_ERROR, { status: 0, message: "refused redirect to a non-http(s) URL", componentID, kind: kind || root?.getAttribute(ATTR_KIND) });
  return false;
}

function parseHTML(html) {
  const t = document.createElement("template");
  t.innerHTML = html;
  return t.content.firstElementChild;
}
