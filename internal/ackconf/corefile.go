package ackconf

import (
	"fmt"
	"strings"
)

// DefaultClusterDomain is what CoreDNS serves when nothing else is set.
const DefaultClusterDomain = "cluster.local"

// KeyCorefile is the data key of kube-system/coredns.
const KeyCorefile = "Corefile"

// CorefileClusterDomains returns the forward zones of the `kubernetes` plugin
// in a Corefile: the cluster domains CoreDNS answers authoritatively. Reverse
// zones (in-addr.arpa, ip6.arpa) are left out. Zones inherit the server
// block's zones when the plugin names none, as CoreDNS does.
func CorefileClusterDomains(corefile string) ([]string, error) {
	var (
		domains    []string
		depth      int
		blockZones []string
		found      bool
	)
	for _, raw := range strings.Split(corefile, "\n") {
		line := stripComment(raw)
		if line == "" {
			continue
		}
		fields := strings.Fields(line)
		if depth == 0 && strings.HasSuffix(line, "{") {
			blockZones = nil
			for _, f := range fields {
				if f == "{" {
					break
				}
				for _, z := range strings.Split(strings.TrimSuffix(f, "{"), ",") {
					if z != "" {
						blockZones = append(blockZones, serverZone(z))
					}
				}
			}
		}
		if depth == 1 && fields[0] == "kubernetes" {
			found = true
			zones := []string{}
			for _, f := range fields[1:] {
				if f == "{" {
					break
				}
				zones = append(zones, strings.TrimSuffix(f, "{"))
			}
			if len(zones) == 0 {
				zones = blockZones
			}
			for _, z := range zones {
				z = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(z)), ".")
				if z == "" || isReverseZone(z) {
					continue
				}
				domains = append(domains, z)
			}
		}
		depth += strings.Count(line, "{") - strings.Count(line, "}")
		if depth < 0 {
			return nil, fmt.Errorf("corefile: unbalanced '}'")
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("corefile: unbalanced '{'")
	}
	if !found {
		return nil, fmt.Errorf("corefile: no kubernetes plugin")
	}
	return domains, nil
}

func stripComment(line string) string {
	if i := strings.Index(line, "#"); i >= 0 {
		line = line[:i]
	}
	return strings.TrimSpace(line)
}

// serverZone turns a server block key such as ".:53" or "dns://example.org:53"
// into its zone.
func serverZone(key string) string {
	key = strings.TrimPrefix(key, "dns://")
	if i := strings.LastIndex(key, ":"); i >= 0 {
		key = key[:i]
	}
	return key
}

func isReverseZone(z string) bool {
	return z == "in-addr.arpa" || z == "ip6.arpa" || strings.HasSuffix(z, ".in-addr.arpa") || strings.HasSuffix(z, ".ip6.arpa")
}
