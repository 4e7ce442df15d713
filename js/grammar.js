// The interaction grammar (README.md, "Interactions"): parsers of
// data-flux-on and data-flux-loading, and the rules they imply. Pure:
// js/test/grammar.test.js runs them in Node.

// Defaults, in ms: debounce and throttle without a duration, and `every`.
export const DEFAULT_WAIT = 300;
export const DEFAULT_EVERY = 2000;

const FLAGS = /^(changed|once|prevent|stop|window|document|ctrl|shift|alt|meta)$/;
const KEY_MODS = ["ctrl", "shift", "alt", "meta"];
const KEY_ALIASES = { space: " ", esc: "escape" };

// parseDuration reads "300ms" or "2s" as ms; anything else is NaN.
export function parseDuration(s) {
  const m = /^(\d+)(ms|s)$/.exec(s);
  return m ? m[1] * (m[2] === "s" ? 1000 : 1) : NaN;
}

// parseTriggers parses data-flux-on: triggers separated by commas, each an
// event name and dot-separated modifiers. A trigger is {event, debounce?,
// throttle?, every?, key?, and true for each flag given}; a word that is
// neither a modifier nor a duration is the key to match (lower case).
export function parseTriggers(spec) {
  const out = [];
  for (const part of spec.split(",")) {
    const [event, ...mods] = part.trim().split(".");
    if (!event) continue;
    const t = { event };
    if (event === "every") t.every = parseDuration(mods[0]) || DEFAULT_EVERY;
    for (let i = 0; i < mods.length; i++) {
      const m = mods[i], d = parseDuration(mods[i + 1]);
      if (m === "debounce" || m === "throttle") t[m] = d >= 0 ? (i++, d) : DEFAULT_WAIT;
      else if (FLAGS.test(m)) t[m] = true;
      else if (m && !(parseDuration(m) >= 0)) t.key = m.toLowerCase();
    }
    out.push(t);
  }
  return out;
}

// keyMatches reports whether event e (a KeyboardEvent or any event with
// ctrlKey, …) passes trigger t's key filter. With a key, the modifier keys
// must be exactly those listed (keydown.enter ignores Shift+Enter);
// without one, those listed must be held.
export function keyMatches(t, e) {
  if (!t.key) return KEY_MODS.every((m) => !t[m] || e[m + "Key"]);
  return (KEY_ALIASES[t.key] || t.key) === e.key?.toLowerCase() && KEY_MODS.every((m) => !!t[m] === !!e[m + "Key"]);
}

// parseLoading parses data-flux-loading: effects separated by blanks or
// commas, each show (also the empty value), hide, disable or class.NAME.
export function parseLoading(spec) {
  const words = (spec || "").split(/[\s,]+/).filter(Boolean);
  return (words.length ? words : ["show"]).map((w) => {
    const [effect, ...arg] = w.split(".");
    return { effect, arg: arg.join(".") };
  });
}

// loadingOn reports whether a loading state limited to the actions named
// in forSpec (data-flux-loading-for; empty: any) is on while actions are
// in flight.
export function loadingOn(forSpec, actions) {
  const only = (forSpec || "").split(/[\s,]+/).filter(Boolean);
  return actions.some((a) => !only.length || only.includes(a));
}

// parseCommands parses data-flux-do: commands separated by ";", each a
// verb with dot-separated arguments, then, after a blank, the selector of
// its targets (none: the element itself). A command is {verb, args, to}.
export function parseCommands(spec) {
  return (spec || "").split(";").map((c) => c.trim()).filter(Boolean).map((c) => {
    const [head, ...to] = c.split(" "), [verb, ...args] = head.split(".");
    return { verb, args, to: to.join(" ").trim() };
  });
}
