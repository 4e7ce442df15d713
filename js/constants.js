// The client's own names and times (ms). The protocol's names are in
// protocol.js, generated from protocol.json.
import { ATTR_ID, ATTR_INERT, ATTR_KIND } from "./protocol.js";

export const VERSION = "0.2.0";
// LIVE matches an element outside every data-flux-inert region: only such
// elements' data-flux-* attributes count.
export const LIVE = `:not([${ATTR_INERT}],[${ATTR_INERT}] *)`;
export const SEL_ROOT = `[${ATTR_KIND}][${ATTR_ID}]${LIVE}`;
export const SEL_PLACEHOLDER = `[${ATTR_KIND}]:not([${ATTR_ID}])${LIVE}`;
export const SEL_CONTROL = "input,select,textarea";
export const BUSY_TIMEOUT = 15000;
export const BACKOFF_BASE = 500;
export const BACKOFF_CAP = 15000;
// A socket open this long resets the backoff.
export const STABLE_AFTER = 10000;
// Handshakes that fail in a row, the socket never open, before the page
// gives the socket up and stays on HTTP.
export const SOCKET_TRIES = 5;
