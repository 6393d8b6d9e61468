package confedit

import (
	"encoding/json"
	"reflect"
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
		m := want
		for _, k := range path[:len(path)-1] {
			sub, ok := m[k].(map[string]any)
			if !ok {
				sub = map[string]any{}
				m[k] = sub
			}
			m = sub
		}
		m[path[len(path)-1]] = "10s"
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %v\nwant %v\nin:\n%s\nout:\n%s", got, want, text, out)
		}
	})
}
