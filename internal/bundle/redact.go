package bundle

import (
	"encoding/json"
	"maps"
	"regexp"
	"slices"
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
var secretKey = regexp.MustCompile(`(?i)(access[_-]?key|access[_-]?secret|secret|token|password|passwd|passphrase|credential|private[_-]?key|client[_-]?key|api[_-]?key)`)

// secretName is a key name in free text that ends in a credential word,
// with any prefix: ALIBABA_CLOUD_ACCESS_KEY_SECRET, client_secret,
// SecurityToken, refresh-token.
const secretName = `(?i)([\w.-]*(?:access[_-]?key(?:[_-]?(?:id|secret))?|access[_-]?secret|secret|token|password|passwd|passphrase|credentials?|private[_-]?key|api[_-]?key))`

// A rule takes one form of credential out of free text. With keyValue, the
// first three groups are the key's name, the separator and the value; the
// name is kept so the reader sees what was there.
type rule struct {
	re       *regexp.Regexp
	keyValue bool
}

// secretText are the credential forms of logs, kubeconfigs, command lines
// and events, in order: a Bearer token before the KEY: VALUE rule, so
// "token: Bearer X" loses X and not the word Bearer.
var secretText = []rule{
	{re: regexp.MustCompile(`(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+`)},
	{re: regexp.MustCompile(`LTAI[0-9A-Za-z]{8,}`)},
	{re: regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+`)},
	// A key cut by --log-lines or the byte limit has no END line.
	{re: regexp.MustCompile(`(?s)-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)`)},
	{re: regexp.MustCompile(`((?:client-key|client-certificate|certificate-authority)-data)("?\s*:\s*)("[^"\n]*"|[^\s"]+)`), keyValue: true},
	// KEY: VALUE (YAML, JSON, log fields): a quoted value, or the rest of
	// the line, as a YAML value may hold spaces.
	{re: regexp.MustCompile(secretName + `("?\s*:\s*)("[^"\n]*"|'[^'\n]*'|[^\s"'][^\n]*)`), keyValue: true},
	// KEY=VALUE (flags, environment, log fields): a quoted value or one word.
	{re: regexp.MustCompile(secretName + `("?\s*=\s*)("[^"\n]*"|'[^'\n]*'|[^\s"',}&]+)`), keyValue: true},
}

// Text redacts credentials in free text and says how many it took out.
func Text(s string) (string, int) {
	n := 0
	for _, r := range secretText {
		s = r.re.ReplaceAllStringFunc(s, func(m string) string {
			if !r.keyValue {
				n++
				return Redacted
			}
			sm := r.re.FindStringSubmatch(m)
			value := sm[3]
			if strings.Contains(value, Redacted) && len(value) <= len(Redacted)+2 {
				return m // an earlier rule took the value out
			}
			n++
			if q := value[0]; q == '"' || q == '\'' {
				return sm[1] + sm[2] + string(q) + Redacted + string(q)
			}
			return sm[1] + sm[2] + Redacted
		})
	}
	return s, n
}

// Snapshot redacts, in place, every free text of what doctor read: the
// ConfigMaps, the DaemonSets' command lines (an agent's --api-key=...),
// events' and node conditions' messages, and the log lines doctor kept.
func Snapshot(s *cluster.Snapshot) []Redaction {
	out := ConfigMaps(s)
	text := func(where, what string, v *string) {
		if t, n := Text(*v); n > 0 {
			*v = t
			out = append(out, Redaction{Where: where, What: what, Count: n})
		}
	}
	for i := range s.DaemonSets {
		d := &s.DaemonSets[i]
		for j := range d.Containers {
			c := &d.Containers[j]
			n := 0
			for k := range c.Args {
				t, m := Text(c.Args[k])
				c.Args[k], n = t, n+m
			}
			// Flags split as "--token" "VALUE" carry the value alone.
			for k := 1; k < len(c.Args); k++ {
				if flag := strings.TrimLeft(c.Args[k-1], "-"); flag != c.Args[k-1] && !strings.Contains(flag, "=") &&
					secretKey.MatchString(flag) && !strings.HasPrefix(c.Args[k], "-") && c.Args[k] != Redacted {
					c.Args[k], n = Redacted, n+1
				}
			}
			if n > 0 {
				out = append(out, Redaction{Where: d.Namespace + "/DaemonSet/" + d.Name + " container " + c.Name, What: "credentials in the command line", Count: n})
			}
		}
	}
	for i := range s.Events {
		e := &s.Events[i]
		text(e.Namespace+"/Event of "+e.Kind+"/"+e.Name, "credentials in the message", &e.Message)
	}
	for i := range s.Nodes {
		if c := s.Nodes[i].NetworkUnavailable; c != nil {
			text("Node/"+s.Nodes[i].Name+" NetworkUnavailable", "credentials in the message", &c.Message)
		}
	}
	if s.Logs != nil {
		for _, pod := range slices.Sorted(maps.Keys(s.Logs.Lines)) {
			lines := s.Logs.Lines[pod]
			n := 0
			for k := range lines {
				t, m := Text(lines[k])
				lines[k], n = t, n+m
			}
			if n > 0 {
				out = append(out, Redaction{Where: "log lines doctor kept of " + pod, What: "credentials in log lines", Count: n})
			}
		}
	}
	return out
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
				out = append(out, Redaction{Where: where, What: "credentials in JSON fields", Count: n})
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
	// walk returns v redacted: values of keys named like credentials, and
	// credentials in any other string (a note quoting a key).
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if s, isStr := c.(string); isStr && s != "" && secretKey.MatchString(k) {
					x[k] = Redacted
					n++
					continue
				}
				x[k] = walk(c)
			}
		case []any:
			for i, c := range x {
				x[i] = walk(c)
			}
		case string:
			t, m := Text(x)
			n += m
			return t
		}
		return v
	}
	doc = walk(doc)
	if n == 0 {
		return text, 0, true
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return text, 0, false
	}
	return string(b) + "\n", n, true
}
