package liveflux

import (
	"bytes"
	"compress/gzip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

// maxRuntimeGzip is the budget of the client runtime, gzip -9: 14 KB
// (10 KB until edits, streams, URL state, navigation and client
// commands).
const maxRuntimeGzip = 14 * 1024

// The bundle is one script: no import or export is left, every module of
// js/ but the test helpers is in it, and it stays within its size budget.
func TestRuntimeBundle(t *testing.T) {
	js := ClientRuntime()
	if m := regexp.MustCompile(`(?m)^\s*(import|export)\b.*$`).Find(js); m != nil {
		t.Errorf("the bundle still has %q", m)
	}
	mods, err := loadModules(jsFiles, "js", runtimeEntry)
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]bool{}
	for _, m := range mods {
		in[m.name] = true
	}
	files, _ := filepath.Glob("js/*.js")
	for _, f := range files {
		if !in[filepath.Base(f)] {
			t.Errorf("%s is not imported by the entry module, directly or not", f)
		}
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(js)
	zw.Close()
	t.Logf("client runtime: %d bytes, %d gzip -9", len(js), gz.Len())
	if gz.Len() > maxRuntimeGzip {
		t.Errorf("client runtime is %d bytes gzip -9, over its budget of %d", gz.Len(), maxRuntimeGzip)
	}
	// Node, where there is one (scripts/test.sh installs it), checks the syntax.
	if node, err := exec.LookPath("node"); err == nil {
		f := filepath.Join(t.TempDir(), "liveflux.js")
		os.WriteFile(f, js, 0o644)
		if out, err := exec.Command(node, "--check", f).CombinedOutput(); err != nil {
			t.Errorf("node --check: %v\n%s", err, out)
		}
	}
}

// A module that imports what its sibling does not export, or in a form the
// bundler does not read, or that declares a name another module declares,
// fails the build of the bundle, and so go test.
func TestRuntimeModuleErrors(t *testing.T) {
	for _, tc := range []struct{ name, a, b, want string }{
		{"missing export", `import { x, y } from "./b.js";`, "export const x = 1;\nconst y = 2;", "imports y from b.js, which does not export it"},
		{"renamed import", `import { x as z } from "./b.js";`, "export const x = 1;", "unsupported import"},
		{"default export", `import { x } from "./b.js";`, "export const x = 1;\nexport default x;", "unsupported export"},
		{"duplicate", "import { x } from \"./b.js\";\nfunction y() {}", "export const x = 1;\nconst y = 2;", "both declare y"},
		{"missing module", `import { x } from "./c.js";`, "", "c.js"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{"js/a.js": {Data: []byte(tc.a)}, "js/b.js": {Data: []byte(tc.b)}}
			_, err := loadModules(fsys, "js", "a.js")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
	fsys := fstest.MapFS{
		"js/a.js": {Data: []byte("import { x, y } from \"./b.js\";\n// about a\nexport function f() {\n  return x; // done\n}\n")},
		"js/b.js": {Data: []byte("import { f } from \"./a.js\";\n\nexport const x = 1; // one\nexport const unused = 2;\nexport const y = () => f();\n")},
	}
	mods, err := loadModules(fsys, "js", "a.js")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	writeModules(&b, mods)
	if got, want := b.String(), "const x=1;\nconst y=()=>f();\nfunction f(){\nreturn x;\n}\n"; got != want {
		t.Errorf("bundle:\n%s\nwant:\n%s", got, want)
	}
}

// squeeze drops only blanks no JS parser needs, and never one inside a
// literal.
func TestSqueeze(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`const a = (b, c) => { return b ? c : -1; };`, `const a=(b,c)=>{return b?c:-1;};`},
		{`x = a - -b + c * d / e;`, `x=a - -b + c * d / e;`},
		{`s = "a = b, c" + 'd ( e' + x;`, `s="a = b, c" + 'd ( e' + x;`},
		{"t = `[${ a ? \"x }\" : b }] ( ${c} )`;", "t=`[${ a ? \"x }\" : b }] ( ${c} )`;"},
		{`if (/^(a | b)$/.test(s) && n / 2 > 1) f();`, `if(/^(a | b)$/.test(s)&&n / 2>1)f();`},
		{`return /[ /] x/g.test(s) ? 1 : 0;`, `return /[ /] x/g.test(s)?1:0;`},
		{`y = a[i] / b; z = (c) / 2;`, `y=a[i]/ b;z=(c)/ 2;`},
		{`s = "it's \" = ";`, `s="it's \" = ";`},
	} {
		if got := string(squeeze([]byte(tc.in))); got != tc.want {
			t.Errorf("squeeze(%s)\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
}
