// The client's own names and times (ms). The protocol's names are in
// protocol.js, generated from protocol.json.
import { ATTR_ID, ATTR_KIND } from "./protocol.js";

export const VERSION = "0.2.0";
export const SEL_ROOT = `[${ATTR_KIND}][${ATTR_ID}]`;
export const SEL_PLACEHOLDER = `[${ATTR_KIND}]:not([${ATTR_ID}])`;
export const BUSY_TIMEOUT = 15000;
export const BACKOFF_BASE = 500;
export const BACKOFF_CAP = 15000;
// A socket open this long resets the backoff.
export const STABLE_AFTER = 10000;
