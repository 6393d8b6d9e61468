package bundle

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"

	"github.com/kubectl-acknet/kubectl-acknet/internal/cluster"
)

// Redacted replaces every value taken out.
const Redacted = "[redacted]"

// Redaction says what was taken out, where; never the value.
type Redaction struct {
	Where string `json:"where"`
	What  string `json:"what"`
	Count int    `json:"count"`
}

// secretKey matches the names of keys that hold credentials: eni-config's
// access_key / access_secret of older Terway, tokens, passwords, keys.
var secretKey = regexp.MustCompile(`(?i)(access[_-]?key|access[_-]?secret|secret|token|password|passwd|credential|private[_-]?key|client[_-]?key)`)

// secretText matches credentials in free text (logs, kubeconfigs): an
// AccessKey ID, KEY=VALUE and KEY: VALUE pairs of secretKey names, bearer
// tokens, JWTs, PEM private keys and kubeconfig key/cert data.
var secretText = []*regexp.Regexp{
	regexp.MustCompile(`\bLTAI[0-9A-Za-z]{8,}`),
	regexp.MustCompile(`(?i)\b(access[_-]?key[_-]?(id|secret)?|access[_-]?secret|secret|token|password|passwd)("?\s*[:=]\s*"?)([^\s",}]+)`),
	regexp.MustCompile(`(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+`),
	regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+`),
	regexp.MustCompile(`(?s)-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----`),
	regexp.MustCompile(`(client-key-data|client-certificate-data|certificate-authority-data):\s*\S+`),
}

// Text redacts credentials in free text and says how many it took out.
func Text(s string) (string, int) {
	n := 0
	for i, re := range secretText {
		s = re.ReplaceAllStringFunc(s, func(m string) string {
			if i == 1 {
				// Keep the key's name: the reader sees what was there.
				sm := re.FindStringSubmatch(m)
				if sm[4] == Redacted {
					return m // an earlier pattern took the value out
				}
				n++
				return sm[1] + sm[3] + Redacted
			}
			n++
			if i == 5 {
				k, _, _ := strings.Cut(m, ":")
				return k + ": " + Redacted
			}
			return Redacted
		})
	}
	return s, n
}

// ConfigMaps redacts the snapshot's ConfigMaps in place: the values of keys
// named like credentials, and such keys inside JSON values (eni_conf), and
// credentials in any other text value.
func ConfigMaps(s *cluster.Snapshot) []Redaction {
	var out []Redaction
	names := make([]string, 0, len(s.ConfigMaps))
	for name := range s.ConfigMaps {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		data := s.ConfigMaps[name]
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			where := cluster.SystemNamespace + "/ConfigMap/" + name + " key " + k
			if secretKey.MatchString(k) && data[k] != "" {
				data[k] = Redacted
				out = append(out, Redaction{Where: where, What: "the whole value (a credential by its key's name)", Count: 1})
				continue
			}
			if v, n, ok := redactJSON(data[k]); ok && n > 0 {
				data[k] = v
				out = append(out, Redaction{Where: where, What: "JSON fields named like credentials", Count: n})
				continue
			}
			if v, n := Text(data[k]); n > 0 {
				data[k] = v
				out = append(out, Redaction{Where: where, What: "credentials in the text", Count: n})
			}
		}
	}
	return out
}

// redactJSON replaces, in a JSON document, the string values of keys named
// like credentials; ok is false when the text is not a JSON object. The
// document is re-encoded only when something was replaced.
func redactJSON(text string) (string, int, bool) {
	t := strings.TrimSpace(text)
	if !strings.HasPrefix(t, "{") {
		return text, 0, false
	}
	var doc any
	if json.Unmarshal([]byte(t), &doc) != nil {
		return text, 0, false
	}
	n := 0
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if s, isStr := c.(string); isStr && s != "" && secretKey.MatchString(k) {
					x[k] = Redacted
					n++
					continue
				}
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(doc)
	if n == 0 {
		return text, 0, true
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return text, 0, false
	}
	return string(b) + "\n", n, true
}
