// Unit tests of grammar.js: node --test js/test/
import { test } from "node:test";
import assert from "node:assert/strict";
import { DEFAULT_EVERY, DEFAULT_WAIT, keyMatches, loadingOn, parseDuration, parseLoading, parseTriggers, parseCommands } from "../grammar.js";

test("durations are whole ms or s", () => {
  assert.equal(parseDuration("300ms"), 300);
  assert.equal(parseDuration("2s"), 2000);
  assert.ok(Number.isNaN(parseDuration("2")));
  assert.ok(Number.isNaN(parseDuration("1.5s")));
  assert.ok(Number.isNaN(parseDuration(undefined)));
});

test("one trigger per comma, modifiers after dots", () => {
  assert.deepEqual(parseTriggers("input.debounce.300ms"), [{ event: "input", debounce: 300 }]);
  assert.deepEqual(parseTriggers("input.changed.debounce, keydown.enter"), [
    { event: "input", changed: true, debounce: DEFAULT_WAIT },
    { event: "keydown", key: "enter" },
  ]);
  assert.deepEqual(parseTriggers(" scroll.window.throttle.1s ,"), [{ event: "scroll", window: true, throttle: 1000 }]);
  assert.deepEqual(parseTriggers("keydown.ctrl.Enter.prevent"), [{ event: "keydown", ctrl: true, key: "enter", prevent: true }]);
  assert.deepEqual(parseTriggers("keydown.escape.document.once.stop"), [{ event: "keydown", key: "escape", document: true, once: true, stop: true }]);
  assert.deepEqual(parseTriggers("blur, focus, change, load, visible.once, chart-select"), [
    { event: "blur" }, { event: "focus" }, { event: "change" }, { event: "load" }, { event: "visible", once: true }, { event: "chart-select" },
  ]);
});

test("every polls, by default every 2s", () => {
  assert.deepEqual(parseTriggers("every.5s"), [{ event: "every", every: 5000 }]);
  assert.deepEqual(parseTriggers("every.250ms"), [{ event: "every", every: 250 }]);
  assert.deepEqual(parseTriggers("every"), [{ event: "every", every: DEFAULT_EVERY }]);
});

test("a key filter holds exactly the modifier keys listed", () => {
  const ev = (key, mods = {}) => ({ key, ctrlKey: false, shiftKey: false, altKey: false, metaKey: false, ...mods });
  const [enter] = parseTriggers("keydown.enter");
  assert.ok(keyMatches(enter, ev("Enter")));
  assert.ok(!keyMatches(enter, ev("Enter", { shiftKey: true })));
  assert.ok(!keyMatches(enter, ev("a")));
  const [ctrlEnter] = parseTriggers("keydown.ctrl.enter");
  assert.ok(keyMatches(ctrlEnter, ev("Enter", { ctrlKey: true })));
  assert.ok(!keyMatches(ctrlEnter, ev("Enter")));
  const [space] = parseTriggers("keyup.space");
  assert.ok(keyMatches(space, ev(" ")));
  const [esc] = parseTriggers("keydown.esc");
  assert.ok(keyMatches(esc, ev("Escape")));
  // Without a key, listed modifiers must be held, others may be.
  const [any] = parseTriggers("keydown");
  assert.ok(keyMatches(any, ev("x", { shiftKey: true })));
  const [metaClick] = parseTriggers("click.meta");
  assert.ok(keyMatches(metaClick, { metaKey: true }));
  assert.ok(!keyMatches(metaClick, { metaKey: false }));
});

test("loading effects: show by default, several at once", () => {
  assert.deepEqual(parseLoading(""), [{ effect: "show", arg: "" }]);
  assert.deepEqual(parseLoading(null), [{ effect: "show", arg: "" }]);
  assert.deepEqual(parseLoading("class.dim disable"), [{ effect: "class", arg: "dim" }, { effect: "disable", arg: "" }]);
  assert.deepEqual(parseLoading("hide, class.is-busy"), [{ effect: "hide", arg: "" }, { effect: "class", arg: "is-busy" }]);
});

test("a loading state is on while any, or one of its, actions is in flight", () => {
  assert.equal(loadingOn("", []), false);
  assert.equal(loadingOn("", ["save"]), true);
  assert.equal(loadingOn("search", ["save"]), false);
  assert.equal(loadingOn("search save", ["save"]), true);
  assert.equal(loadingOn("search,save", ["x", "search"]), true);
});

test("parseCommands: verbs with dotted arguments, then a selector; ';' between commands", () => {
  assert.deepEqual(parseCommands("toggle #menu; add-class.open.wide .panel li; focus"), [
    { verb: "toggle", args: [], to: "#menu" },
    { verb: "add-class", args: ["open", "wide"], to: ".panel li" },
    { verb: "focus", args: [], to: "" },
  ]);
  assert.deepEqual(parseCommands(" show.fade  closest li ;;"), [{ verb: "show", args: ["fade"], to: "closest li" }]);
  assert.deepEqual(parseCommands("set-attr.aria-expanded.true #b"), [{ verb: "set-attr", args: ["aria-expanded", "true"], to: "#b" }]);
  assert.deepEqual(parseCommands(""), []);
  assert.deepEqual(parseCommands(null), []);
});
