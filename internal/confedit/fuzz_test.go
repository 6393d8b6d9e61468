package confedit

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// FuzzJSONSet: on any JSON object, setting a member yields valid JSON that
// decodes to the original plus that member, and deleting it again yields
// the original minus it.
func FuzzJSONSet(f *testing.F) {
	f.Add("{\n  \"name\": \"cb0\",\n  \"type\": \"flannel\"\n}", "cniVersion")
	f.Add(`{"a":{},"b":[1,{"c":"}"}]}`, "a")
	f.Add(`{}`, "x")
	f.Fuzz(func(t *testing.T, text, key string) {
		if !utf8.ValidString(key) {
			return // keys come from our code, and JSON text is UTF-8
		}
		var want map[string]any
		if json.Unmarshal([]byte(text), &want) != nil || want == nil {
			return
		}
		d, err := ParseJSON(text)
		if err != nil || d.Root().Kind != '{' {
			return
		}
		if err := d.Set(d.Root(), key, `"v"`, ""); err != nil {
			t.Fatal(err)
		}
		out := d.Result()
		var got map[string]any
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("result is not JSON: %v\n%s", err, out)
		}
		if dup := countKey(text, key); dup > 1 {
			return // duplicate keys: encoding/json keeps the last
		}
		want[key] = "v"
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %v want %v\n%s", got, want, out)
		}
		d2, err := ParseJSON(out)
		if err != nil {
			t.Fatal(err)
		}
		if err := d2.Delete(d2.Root(), key); err != nil {
			t.Fatal(err)
		}
		delete(want, key)
		var back map[string]any
		if err := json.Unmarshal([]byte(d2.Result()), &back); err != nil || !reflect.DeepEqual(back, want) {
			t.Fatalf("delete: %v %v\n%s", err, back, d2.Result())
		}
	})
}

func countKey(text, key string) int {
	d, err := ParseJSON(text)
	if err != nil {
		return 0
	}
	n := 0
	for _, mem := range d.Root().members {
		if mem.key == key {
			n++
		}
	}
	return n
}

// FuzzSetYAML: for any document SetYAML accepts, the result decodes to the
// original with the path set, and nothing panics. The paths are the ones the
// fixes edit; the documents are arbitrary. (The fixes check the result again
// with the decoder kube-proxy uses.)
func FuzzSetYAML(f *testing.F) {
	f.Add("kind: KubeProxyConfiguration\nconntrack:\n  maxPerCore: 32768 # low\nipvs:\n  scheduler: lc\n", uint8(0))
	f.Add("a: 1\nipvs:\n", uint8(1))
	f.Add("mode: ipvs", uint8(2))
	paths := [][]string{{"ipvs", "udpTimeout"}, {"ipvs", "scheduler"}, {"conntrack", "maxPerCore"}, {"mode"}}
	f.Fuzz(func(t *testing.T, text string, which uint8) {
		path := paths[int(which)%len(paths)]
		var want map[string]any
		if yaml.Unmarshal([]byte(text), &want) != nil || want == nil {
			return
		}
		out, err := SetYAML(text, path, "10s")
		if err != nil {
			return
		}
		var got map[string]any
		if err := yaml.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("result does not decode: %v\nin:\n%s\nout:\n%s", err, text, out)
		}
		setPath(want, path, "10s")
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %v\nwant %v\nin:\n%s\nout:\n%s", got, want, text, out)
		}
	})
}

// FuzzSetYAMLBlock: every block-style document it builds from the fuzzer's
// bytes (nested mappings, plain and quoted scalars, comments, blank lines,
// indents of 2 or 4, keys in any order, the path present, absent or null)
// is accepted, and the result decodes to the original with the path set.
// FuzzSetYAML alone would pass a SetYAML that refused everything.
func FuzzSetYAMLBlock(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7}, uint8(0))
	f.Add([]byte{9, 9, 9, 1, 0, 200, 31, 7, 255, 3}, uint8(2))
	f.Add([]byte{}, uint8(3))
	paths := [][]string{{"ipvs", "udpTimeout"}, {"ipvs", "scheduler"}, {"conntrack", "maxPerCore"}, {"mode"}}
	f.Fuzz(func(t *testing.T, seed []byte, which uint8) {
		path := paths[int(which)%len(paths)]
		text := blockYAML(seed)
		var want map[string]any
		if err := yaml.Unmarshal([]byte(text), &want); err != nil {
			t.Fatalf("the generator built invalid YAML: %v\n%s", err, text)
		}
		out, err := SetYAML(text, path, "10s")
		if err != nil {
			t.Fatalf("refused valid block YAML: %v\n%s", err, text)
		}
		var got map[string]any
		if err := yaml.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("result does not decode: %v\nin:\n%s\nout:\n%s", err, text, out)
		}
		if want == nil {
			want = map[string]any{}
		}
		setPath(want, path, "10s")
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %v\nwant %v\nin:\n%s\nout:\n%s", got, want, text, out)
		}
	})
}

// blockYAML turns bytes into a kube-proxy-like block-style document. Each
// top-level key appears at most once, kind always; "mode" and "kind" are scalars, the
// others mappings (or null), so every path the fixes edit can be set.
func blockYAML(seed []byte) string {
	next := func() int {
		if len(seed) == 0 {
			return 0
		}
		b := seed[0]
		seed = seed[1:]
		return int(b)
	}
	scalars := []string{"1", "lc", "10s", `"quoted: yes"`, "'single'", "true", "~", "0x10", "a b c", `""`}
	children := []string{"scheduler", "udpTimeout", "maxPerCore", "tcpTimeout", "min", "excludeCIDRs"}
	var b strings.Builder
	if next()%3 == 0 {
		b.WriteString("# kube-proxy config\n")
	}
	for _, top := range []string{"kind", "ipvs", "mode", "conntrack", "bindAddress"} {
		n := next()
		if n%4 == 0 && top != "kind" {
			continue // absent; kind never is: an empty document is refused
		}
		comment := ""
		if n%5 == 1 {
			comment = " # why"
		}
		if top == "kind" || top == "mode" || top == "bindAddress" {
			fmt.Fprintf(&b, "%s: %s%s\n", top, scalars[next()%len(scalars)], comment)
			continue
		}
		fmt.Fprintf(&b, "%s:%s\n", top, comment)
		indent := strings.Repeat(" ", 2+2*(n%2))
		used := map[string]bool{}
		for i, count := 0, next()%4; i < count; i++ {
			k := children[next()%len(children)]
			if used[k] {
				continue
			}
			used[k] = true
			if next()%6 == 0 {
				b.WriteString("\n")
			}
			fmt.Fprintf(&b, "%s%s: %s\n", indent, k, scalars[next()%len(scalars)])
		}
	}
	return b.String()
}

// setPath sets the value at path in a decoded document, making the mappings
// on the way.
func setPath(m map[string]any, path []string, v any) {
	for _, k := range path[:len(path)-1] {
		sub, ok := m[k].(map[string]any)
		if !ok {
			sub = map[string]any{}
			m[k] = sub
		}
		m = sub
	}
	m[path[len(path)-1]] = v
}
