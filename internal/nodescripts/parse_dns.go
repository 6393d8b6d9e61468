package nodescripts

import (
	"fmt"
	"strings"
)

// DNSResult is one record of the dns script.
type DNSResult struct {
	Proto, Server, Name, Type string
	OK                        bool
	Message                   string
}

// ParseDNS parses dns script output.
func ParseDNS(out string) ([]DNSResult, error) {
	var res []DNSResult
	err := eachRecord(out, func(f []string) error {
		if f[0] != "result" || len(f) < 6 {
			return fmt.Errorf("unexpected dns record %q", strings.Join(f, " "))
		}
		res = append(res, DNSResult{Proto: f[1], Server: f[2], Name: f[3], Type: f[4], OK: f[5] == "ok", Message: at(f, 6)})
		return nil
	})
	return res, err
}

// DNSInOrder returns the results in the order of the records asked for
// (five arguments each, as passed to the script).
func DNSInOrder(res []DNSResult, args []string) ([]DNSResult, error) {
	by := map[string]DNSResult{}
	for _, r := range res {
		by[strings.Join([]string{r.Proto, r.Server, r.Name, r.Type}, " ")] = r
	}
	out := make([]DNSResult, 0, len(args)/5)
	for i := 0; i+4 < len(args); i += 5 {
		r, ok := by[strings.Join(args[i:i+4], " ")]
		if !ok {
			return nil, fmt.Errorf("the dns script did not report %s", strings.Join(args[i:i+4], " "))
		}
		out = append(out, r)
	}
	return out, nil
}
