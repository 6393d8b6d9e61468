package checks

import (
	"fmt"
	"strings"

	"golang.org/x/net/publicsuffix"

	"github.com/kubectl-acknet/kubectl-acknet/internal/ackconf"
	"github.com/kubectl-acknet/kubectl-acknet/internal/cluster"
)

// PublicOverlap reports whether a DNS domain is, or lies under, a top-level
// domain of the ICANN section of the public suffix list, which means real
// public names live under it. The list is the maintained one of
// golang.org/x/net/publicsuffix, not a hand-written TLD list.
func PublicOverlap(domain string) (bool, string) {
	d := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(domain)), ".")
	if d == "" {
		return false, ""
	}
	labels := strings.Split(d, ".")
	tld := labels[len(labels)-1]
	if _, icann := publicsuffix.PublicSuffix(tld); !icann {
		return false, ""
	}
	suffix, _ := publicsuffix.PublicSuffix(d)
	return true, suffix
}

func corednsClusterDomain(e *Env) Result {
	domains, r := clusterDomains(e)
	if r != nil {
		return *r
	}
	var findings []Finding
	custom := []string{}
	for _, d := range domains {
		if d == ackconf.DefaultClusterDomain {
			continue
		}
		custom = append(custom, d)
		if public, suffix := PublicOverlap(d); public {
			findings = append(findings, Finding{
				Object:      "kube-system/ConfigMap/" + cluster.CMCoreDNS,
				Message:     fmt.Sprintf("cluster domain %q overlaps public DNS (public suffix %q): CoreDNS answers it locally and never forwards, so real names under it stop resolving", d, suffix),
				Remediation: "the cluster domain can only be set at cluster creation: create a new cluster with a non-public domain (cluster.local)",
			})
		}
	}
	if len(findings) > 0 {
		return WithFindings(StatusFail, "the cluster domain shadows public DNS", findings)
	}
	if len(custom) > 0 {
		return Result{Status: StatusInfo, Summary: "custom cluster domain " + strings.Join(custom, ", "), Findings: []Finding{{
			Object:      "kube-system/ConfigMap/" + cluster.CMCoreDNS,
			Message:     fmt.Sprintf("custom cluster domain %s: it must not overlap a PrivateZone of the VPC", strings.Join(custom, ", ")),
			Remediation: "make sure no PrivateZone in the VPC uses this domain",
		}}}
	}
	return Pass("cluster domain is %s", ackconf.DefaultClusterDomain)
}

func nodeLocalDNS(e *Env) Result {
	if r := e.skipUnless(cluster.ReadDaemonSets); r != nil {
		return *r
	}
	for _, ds := range e.S.DaemonSets {
		if ds.Name == "node-local-dns" || ds.Labels["k8s-app"] == "node-local-dns" {
			return Info("NodeLocal DNSCache is deployed (%s/%s)", ds.Namespace, ds.Name)
		}
	}
	return Result{Status: StatusInfo, Summary: "NodeLocal DNSCache is not deployed", Findings: []Finding{{
		Message:     "every DNS query goes to CoreDNS through conntrack; NodeLocal DNSCache cuts those entries and the UDP timeout losses",
		Remediation: "install the NodeLocal DNSCache add-on (ack-node-local-dns) from the ACK console",
	}}}
}
