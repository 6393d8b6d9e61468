package fix

import (
	"fmt"

	"github.com/kubectl-acknet/kubectl-acknet/internal/ackconf"
	"github.com/kubectl-acknet/kubectl-acknet/internal/cluster"
	"github.com/kubectl-acknet/kubectl-acknet/internal/confedit"
)

const eniCM = cluster.CMENIConfig

// setDataKey plans a ConfigMap data key that Terway reads as a plain string.
func setDataKey(in *Input, p *Plan, key, want string) error {
	d, ok := in.Data[eniCM]
	if !ok {
		return fmt.Errorf("kube-system/ConfigMap/%s does not exist", eniCM)
	}
	cur, existed := d[key]
	if existed && cur == want {
		p.Unchanged = append(p.Unchanged, fmt.Sprintf("%s %s: already %q", eniCM, key, want))
		return nil
	}
	what := fmt.Sprintf("%s: %q", key, want)
	if existed {
		what = fmt.Sprintf("%s: %q -> %q", key, cur, want)
	}
	p.Edits = append(p.Edits, Edit{ConfigMap: eniCM, Key: key, Before: cur, After: want, Existed: existed, What: what})
	return nil
}

func terwayInClusterLB() *Fixer {
	f := &Fixer{
		ID:         "terway.in-cluster-lb",
		Changes:    `eni-config: set data key in_cluster_loadbalance: "true" beside eni_conf, and remove it from inside eni_conf`,
		ConfigMaps: []string{eniCM},
	}
	f.plan = func(in *Input, p *Plan) error {
		before, err := data(in, eniCM, ackconf.KeyENIConf)
		if err != nil {
			return err
		}
		if _, err := ackconf.ParseENIConf(before); err != nil {
			return fmt.Errorf("%s: %w; fix it by hand first (see terway.eni-config)", eniCM, err)
		}
		doc, err := confedit.ParseJSON(before)
		if err != nil {
			return err
		}
		if doc.Root().Get(ackconf.KeyInClusterLB) != nil {
			if err := doc.Delete(doc.Root(), ackconf.KeyInClusterLB); err != nil {
				return err
			}
			after := doc.Result()
			conf, err := ackconf.ParseENIConf(after)
			if err != nil {
				return fmt.Errorf("internal error: the edited eni_conf does not parse: %w", err)
			}
			if conf.HasKey(ackconf.KeyInClusterLB) {
				return fmt.Errorf("internal error: in_cluster_loadbalance is still inside eni_conf")
			}
			if err := verifyOnly(before, after, false, func(m map[string]any) error {
				delete(m, ackconf.KeyInClusterLB)
				return nil
			}); err != nil {
				return err
			}
			p.Edits = append(p.Edits, Edit{ConfigMap: eniCM, Key: ackconf.KeyENIConf, Before: before, After: after, Existed: true,
				What: "eni_conf: remove in_cluster_loadbalance, which Terway never reads there"})
		}
		p.Notes = append(p.Notes, "after the restart the policy container log shows enable-in-cluster-loadbalance=true")
		return setDataKey(in, p, ackconf.KeyInClusterLB, "true")
	}
	return f
}

func terwayNetworkPolicy() *Fixer {
	f := &Fixer{
		ID:         "terway.network-policy",
		Changes:    `eni-config: set data key disable_network_policy: "true" (refused while NetworkPolicy objects exist)`,
		ConfigMaps: []string{eniCM},
		Needs:      NeedNetworkPolicies,
	}
	f.plan = func(in *Input, p *Plan) error {
		switch {
		case in.NetworkPolicies > 0:
			return fmt.Errorf("%d NetworkPolicy objects exist (e.g. %s): disabling network policy would stop enforcing them; delete them first if they are unused",
				in.NetworkPolicies, in.Example)
		case in.NetworkPolicies < 0:
			return fmt.Errorf("cannot tell whether NetworkPolicy objects exist (%s); refusing to disable network policy", in.Example)
		}
		p.Notes = append(p.Notes, "older Terway versions ignore this key: upgrade Terway if the policy container keeps running")
		return setDataKey(in, p, ackconf.KeyDisableNetworkPolicy, "true")
	}
	return f
}
