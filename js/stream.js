// Streams: the lists whose items the server sends once and the page keeps
// (PROTOCOL.md, "Streams").
import { ATTR_KEY, ATTR_STREAM, EV_ERROR } from "./protocol.js";
import { emit, findRoot, inside, parseHTML } from "./dom.js";
import { keepFocus, morph } from "./morph.js";

// applyStreams applies ops ([op, stream, …], in order) to the stream
// containers of instance id. An item inserted with a key the container
// holds is morphed where it stands; a reset keeps the items' elements
// until the end of ops, and an item streamed again takes its element back,
// so that a list streamed again keeps its elements, focus and scroll.
export function applyStreams(id, ops) {
  const root = findRoot(id);
  if (!root || !Array.isArray(ops)) return;
  const lists = new Map();
  for (const [, name] of ops) lists.has(name) || lists.set(name, listOf(root, id, name));
  const places = [...lists.values()].map(placeOf);
  keepFocus(root, () => true, () => {
    for (const [op, name, a, b, html] of ops) {
      const l = lists.get(name);
      if (l.el) streamOp(l, op, a, b, html);
    }
    for (const l of lists.values()) for (const el of l.stale.values()) el.remove();
  });
  for (const p of places) keepPlace(p);
}

// placeOf returns where list l's first item in view stands, to keep it
// there ({scroller, item, top}), or undefined.
function placeOf(l) {
  let s = l.el?.parentElement;
  while (s && !(/auto|scroll/.test(getComputedStyle(s).overflowY) && s.scrollHeight > s.clientHeight)) s = s.parentElement;
  s ||= document.scrollingElement;
  const top = s === document.scrollingElement ? 0 : s.getBoundingClientRect().top;
  const item = [...(l.el?.children || [])].find((c) => c.getBoundingClientRect().bottom > top);
  return item && { scroller: s, item, top: item.getBoundingClientRect().top };
}

// keepPlace scrolls back what items put above the view pushed down: the
// browser keeps its place itself (scroll anchoring) except at the top of a
// scroller, where an infinite scroll that loads rows above stands.
function keepPlace(p) {
  const d = p?.item.isConnected && p.item.getBoundingClientRect().top - p.top;
  if (d > 0) p.scroller.scrollTop += d;
}

// listOf returns the stream name of root: its container and its items by
// key ({el, keys, stale, last}); el is undefined, and reported, when root
// holds no such container.
function listOf(root, id, name) {
  const el = inside(root, `[${ATTR_STREAM}="${CSS.escape(name)}"]`)[0];
  if (!el) emit(root, EV_ERROR, { status: 0, message: `no element ${ATTR_STREAM}="${name}" for the stream's items`, componentID: id });
  const keys = new Map();
  for (const c of el?.children || []) if (c.hasAttribute(ATTR_KEY)) keys.set(c.getAttribute(ATTR_KEY), c);
  return { el, keys, stale: new Map(), last: null };
}

// streamOp applies one operation to list l: [insert, key, at, html],
// [delete, key], [reset] or [limit, n].
function streamOp(l, op, key, at, html) {
  const { el, keys, stale } = l;
  if (op === "insert") {
    const next = parseHTML(html);
    if (!next) return;
    const old = keys.get(key) || stale.get(key);
    if (keys.has(key)) return void keys.set(key, morph(old, next));
    stale.delete(key);
    const node = old ? morph(old, next) : next;
    keys.set(key, node);
    if (!stale.size) return void (at < 0 || at >= el.children.length ? el.append(node) : el.insertBefore(node, el.children[at]));
    // After a reset: placed among the items streamed since, the stale
    // ones (removed at the end) not counted.
    // (Counted only for an insert at a place: appends, the usual refill,
    // go after the last streamed since.)
    const live = at < 0 ? [] : [...el.children].filter((c) => !stale.has(c.getAttribute(ATTR_KEY)) && c !== node);
    const end = at < 0 || at >= live.length;
    const before = end ? (l.last ? l.last.nextSibling : el.firstChild) : live[at];
    if (node !== before && node.nextSibling !== before) el.insertBefore(node, before);
    if (end) l.last = node;
  } else if (op === "delete") {
    keys.get(key)?.remove();
    keys.delete(key);
  } else if (op === "reset") {
    for (const [k, c] of keys) stale.set(k, c);
    keys.clear();
    l.last = null;
  } else if (op === "limit" && keys.size > Math.abs(key)) {
    const n = key, items = [...el.children].filter((c) => keys.get(c.getAttribute(ATTR_KEY)) === c);
    for (const c of n > 0 ? items.slice(n) : items.slice(0, items.length + n)) {
      keys.delete(c.getAttribute(ATTR_KEY));
      c.remove();
    }
  }
}
