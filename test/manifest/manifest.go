// Package manifest reads the ConfigMaps and DaemonSets of multi-document
// YAML files (the public fixtures, the scenarios) for tests.
package manifest

import (
	"bytes"
	"fmt"
	"os"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"
)

// Set is what the files hold, by kind.
type Set struct {
	// ConfigMaps maps a ConfigMap's name to its data.
	ConfigMaps map[string]map[string]string
	DaemonSets []appsv1.DaemonSet
}

// Read decodes every document of the files; documents of other kinds are
// skipped.
func Read(paths ...string) (*Set, error) {
	s := &Set{ConfigMaps: map[string]map[string]string{}}
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		for _, doc := range bytes.Split(raw, []byte("\n---")) {
			var head struct {
				Kind     string `json:"kind"`
				Metadata struct {
					Name string `json:"name"`
				} `json:"metadata"`
				Data map[string]string `json:"data"`
			}
			if err := yaml.Unmarshal(doc, &head); err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			switch head.Kind {
			case "ConfigMap":
				s.ConfigMaps[head.Metadata.Name] = head.Data
			case "DaemonSet":
				var ds appsv1.DaemonSet
				if err := yaml.Unmarshal(doc, &ds); err != nil {
					return nil, fmt.Errorf("%s: %w", p, err)
				}
				s.DaemonSets = append(s.DaemonSets, ds)
			}
		}
	}
	return s, nil
}

// FixturesDir is the directory of the public fixtures, from
// ACKNET_FIXTURES. In CI (CI set) a missing value fails the test; a quick
// local run skips what needs the fixtures.
func FixturesDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("ACKNET_FIXTURES")
	if dir == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("ACKNET_FIXTURES must be set in CI")
		}
		t.Skip("ACKNET_FIXTURES is not set; the fixture cases need it")
	}
	return dir
}
