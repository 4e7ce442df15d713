// Unit tests of rules.js: node --test js/test/
import { test } from "node:test";
import assert from "node:assert/strict";
import { addField, applyDiff, applyEdits, backoff, bodyOf, diffStep, isStale, rootHTML, safeURL, wireFields } from "../rules.js";
import { BACKOFF_CAP } from "../constants.js";

test("a rendering older than the one shown is stale; a missing or 0 revision never is", () => {
  assert.equal(isStale(3, 4), true);
  assert.equal(isStale(4, 4), false);
  assert.equal(isStale(5, 4), false);
  assert.equal(isStale(0, 9), false);
  assert.equal(isStale(undefined, 9), false);
});

test("a diff applies only on the revision it is based on", () => {
  assert.equal(diffStep(12, { rev: 13, base: 12 }), "apply");
  assert.equal(diffStep(11, { rev: 13, base: 12 }), "resync"); // missed one
  assert.equal(diffStep(0, { rev: 13, base: 12 }), "resync"); // page shows only the first paint
  assert.equal(diffStep(13, { rev: 13, base: 12 }), "stale");
  assert.equal(diffStep(14, { rev: 13, base: 12 }), "stale");
});

test("applyDiff keeps p code units before and s after the new text", () => {
  assert.equal(applyDiff("<b>41</b>", [3, 4, "42"]), "<b>42</b>");
  assert.equal(applyDiff("abc", [0, 0, "xyz"]), "xyz");
  assert.equal(applyDiff("abc", [3, 0, "d"]), "abcd");
  assert.equal(applyDiff("abc", [1, 1, ""]), "ac");
  // UTF-16 code units, as the server counts them: 😀 is two.
  assert.equal(applyDiff("a😀b", [3, 1, "!"]), "a😀!b");
});

test("applyEdits keeps, drops and puts text in, run after run", () => {
  assert.equal(applyEdits("<b>1</b><b>2</b><b>3</b>", [3, 1, "9", 7, 1, "8"]), "<b>9</b><b>8</b><b>3</b>");
  assert.equal(applyEdits("abc", []), "abc");
  assert.equal(applyEdits("abc", [0, 3, "xyz"]), "xyz");
  assert.equal(applyEdits("abc", [3, 0, "d"]), "abcd");
  assert.equal(applyEdits("abcdef", [1, 1, "", 2, 1, "!"]), "acd!f");
  // UTF-16 code units, as the server counts them: 😀 is two.
  assert.equal(applyEdits("a😀b😀c", [3, 1, "!", 2, 1, "?"]), "a😀!😀?");
});

test("rootHTML and bodyOf round-trip, attributes escaped", () => {
  const html = rootHTML('k"<&>', "ID1", 7, "<p>hi</p>");
  assert.equal(html, '<div data-flux-component-kind="k&quot;&lt;&amp;&gt;" data-flux-component-id="ID1" data-flux-rev="7"><p>hi</p></div>');
  assert.equal(bodyOf(html), "<p>hi</p>");
  assert.equal(bodyOf('<div a="1"></div>'), "");
});

test("safeURL lets only http(s) through, off-site only when spelled out", () => {
  const base = "https://app.example/page";
  assert.equal(safeURL("/done?x=1", base), "https://app.example/done?x=1");
  assert.equal(safeURL("done", base), "https://app.example/done");
  assert.equal(safeURL("?x=1#top", base), "https://app.example/page?x=1#top");
  assert.equal(safeURL("https:evil.example", base), "https://app.example/evil.example"); // relative on an https page
  assert.equal(safeURL("http://other.example/", base), "http://other.example/");
  assert.equal(safeURL("HTTPS://Other.example/a", base), "https://other.example/a");
  for (const bad of ["javascript:alert(1)", " JaVaScRiPt:alert(1)", "\tjavascript:x", "data:text/html,x", "vbscript:x", "http://[bad", 42, null]) {
    assert.equal(safeURL(bad, base), null, String(bad));
  }
  // Look-alikes of a path that a browser takes to another site.
  for (const away of ["//evil.example/", "///evil.example", "/\\evil.example/", "\\\\evil.example", "\\/evil.example", " //evil.example", "/\t/evil.example", "https:/\\evil.example", " https://evil.example", "http:evil.example"]) {
    assert.equal(safeURL(away, base), null, away);
  }
  assert.equal(safeURL("https:evil.example", "http://app.example/"), null); // another scheme: another site
});

test("backoff grows exponentially up to the cap, with full jitter", () => {
  assert.equal(backoff(0, 0), 0);
  assert.equal(backoff(0, 0.5), 250);
  assert.equal(backoff(3, 1), 4000);
  assert.equal(backoff(30, 0.999), 0.999 * BACKOFF_CAP);
});

test("repeated fields become arrays; wire fields are strings", () => {
  const f = {};
  addField(f, "a", "1");
  addField(f, "b", "x");
  addField(f, "a", "2");
  addField(f, "a", "3");
  assert.deepEqual(f, { a: ["1", "2", "3"], b: "x" });
  assert.deepEqual({ ...wireFields({ n: 4, t: true, l: [1, "2"] }) }, { n: "4", t: "true", l: ["1", "2"] });
});
