// The page's URL and history: components that live in the URL
// (data-flux-url), links that patch it (data-flux-patch) or load pages of
// the site without a reload (data-flux-navigate), Back and Forward, scroll
// positions, flash messages carried to the next page, and the back-forward
// cache.
import { ATTR_FLASH, ATTR_IGNORE, ATTR_NAVIGATE, ATTR_PATCH, CLASS_NAVIGATING, EV_ERROR, EV_FLASH, EV_NAVIGATED, MSG_URL } from "./protocol.js";
import { LIVE } from "./constants.js";
import { act } from "./actions.js";
import { config } from "./config.js";
import { emit } from "./dom.js";
import { safeURL } from "./rules.js";
import { connect, send, sock } from "./socket.js";
import { views } from "./view.js";

// here is the page's URL as the server is told it: path, query, fragment.
export const here = () => location.href.slice(location.origin.length);

// page tells the documents of the history apart: each entry the client
// made, and the first, holds {page, x, y} (x, y: the scroll position it
// had, which the client restores itself).
let page = Math.random();

const stamp = (s) => history.replaceState({ ...history.state, page, ...s }, "");

// push adds a history entry for url (of document next), after noting the
// scroll position of the current one.
function push(url, replace, next = page) {
  stamp({ x: scrollX, y: scrollY });
  history.scrollRestoration = "manual";
  history[replace ? "replaceState" : "pushState"]({ page: (page = next) }, "", url);
}

// tell tells every component of the page that lives in the URL what it
// is now (over HTTP: a re-render that carries it).
function tell() {
  for (const [id, v] of views) v.url && !send({ type: MSG_URL, componentID: id, data: { url: here() } }) && act(id, "");
}

// patch changes the page's URL to to, with a new history entry unless
// replace, and tells the components. A target on another origin is
// refused and reported as liveflux:error.
export function patch(to, replace) {
  const h = safeURL(to, location.href);
  if (!h?.startsWith(location.origin + "/")) return emit(document, EV_ERROR, { status: 0, message: "refused URL patch: " + to });
  if (h !== location.href) push(h, replace), tell();
}

const KEY = "liveflux:flash";

// showFlash shows flash {kind, text} in the data-flux-flash regions of its
// kind, or of none.
function showFlash(d) {
  for (const el of document.querySelectorAll(`[${ATTR_FLASH}]${LIVE}`)) {
    if ([d.kind, ""].includes(el.getAttribute(ATTR_FLASH))) (el.textContent = d.text), (el.hidden = false);
  }
}

// goes reports whether a link (a) in from, to url, loads without a reload:
// a region holds it that asks for it (data-flux-navigate, not "false"),
// and it is a plain link to a page of this origin.
const goes = (from, url, a) =>
  (from.closest(`[${ATTR_NAVIGATE}]${LIVE}`)?.getAttribute(ATTR_NAVIGATE) ?? "false") !== "false" &&
  url.origin === location.origin && !a?.hasAttribute("download") && /^(_self|)$/.test(a?.target || "");

// leave goes to url (a URL), a page of the site, with the flashes among
// events: without a reload where from (an element) asks for it, else in
// full.
export function leave(url, from, events) {
  const f = (events || []).filter((e) => e.name === EV_FLASH).map((e) => e.detail);
  if (goes(from || document.body, url)) return visit(url.href, 1, 0, f);
  sessionStorage.setItem(KEY, JSON.stringify(f));
  location.assign(url.href);
}

// sig is what two pages must share for one to replace the other without a
// reload: their scripts and style sheets.
const sig = (d) => [...d.querySelectorAll("script,style,link[rel=stylesheet]")].map((e) => e.outerHTML).join();

// visit loads href, a page of the site, and morphs it into this one: a
// new history entry when add, else (Back, Forward) the scroll position at
// ({x, y}) restored; flashes shown. A page that fails to load, is not
// HTML, or has other scripts or styles is loaded in full.
async function visit(href, add, at, flashes) {
  const cl = document.documentElement.classList;
  let r, doc;
  cl.add(CLASS_NAVIGATING);
  try {
    r = await fetch(href, { headers: config.headers });
    if (r.ok && /html/.test(r.headers.get("content-type"))) doc = new DOMParser().parseFromString(await r.text(), "text/html");
  } catch {}
  cl.remove(CLASS_NAVIGATING);
  if (!doc || sig(doc) !== sig(document)) return location.assign(r?.url || href);
  if (add) push(r.url, 0, Math.random());
  else page = history.state?.page;
  document.title = doc.title;
  morphdom(document.body, doc.body, { onBeforeElUpdated: (from) => !(from.id && from.hasAttribute(ATTR_IGNORE)) });
  document.querySelector("[autofocus]")?.focus();
  const t = document.getElementById(decodeURIComponent(location.hash.slice(1)));
  at ? scrollTo(at.x, at.y) : t ? t.scrollIntoView() : scrollTo(0, 0);
  flashes?.forEach(showFlash);
  emit(document, EV_NAVIGATED, { url: here() });
}

// listenURL follows data-flux-patch and data-flux-navigate links, Back and
// Forward, closes a flash a click lands in, leaves the socket closed while
// the page is in the back-forward cache (so that the browser closes none)
// and brings it back up to date after, and shows the flashes the page
// before carried over.
export function listenURL() {
  stamp();
  document.addEventListener("click", (e) => {
    const a = e.target.closest?.(`a[href]${LIVE}`), url = a && new URL(a.href), f = e.target.closest?.(`[${ATTR_FLASH}]`);
    if (f) (f.textContent = ""), (f.hidden = true);
    if (!a || e.defaultPrevented || e.button || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
    if (a.hasAttribute(ATTR_PATCH)) e.preventDefault(), patch(a.href, a.getAttribute(ATTR_PATCH) === "replace");
    else if (goes(a, url, a) && (!url.hash || url.pathname + url.search !== location.pathname + location.search)) e.preventDefault(), visit(a.href, 1);
  });
  addEventListener("popstate", ({ state: s }) => {
    if (s?.page && s.page !== page) return visit(location.href, 0, s);
    tell();
    s && scrollTo(s.x, s.y);
  });
  addEventListener("pagehide", () => (sock.off = 1) && sock.c?.close());
  addEventListener("pageshow", (e) => e.persisted && ((sock.off = 0), config.useWebSocket ? connect() : views.forEach((v, id) => act(id, ""))));
  JSON.parse(sessionStorage.getItem(KEY) || "[]").forEach(showFlash);
  sessionStorage.removeItem(KEY);
}
