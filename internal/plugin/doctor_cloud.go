package plugin

import (
	"context"
	"fmt"
	"sort"

	"github.com/kubectl-acknet/kubectl-acknet/internal/checks"
	"github.com/kubectl-acknet/kubectl-acknet/internal/cloud"
	"github.com/kubectl-acknet/kubectl-acknet/internal/cluster"
)

// readCloud runs between the cluster's first reads (nodes, ConfigMaps) and
// its pod pass: it needs the nodes' instances and Terway's vSwitch IDs, and
// gives back the pod vSwitches' CIDRs so the pod pass counts pods per
// vSwitch while paging. A failure that ends --cloud ends the read at once.
func (o *DoctorOptions) readCloud(ctx context.Context, s *cluster.Snapshot) ([]cluster.PodRange, error) {
	env := checks.NewEnv(s)
	region, from := o.Region, "--region"
	if region == "" {
		region, from = checks.NodeRegion(s.Nodes), "node labels"
	}
	if region == "" {
		return nil, o.cloudFailed(fmt.Errorf("no region: the nodes carry no %s label and no provider ID; pass --region", checks.LabelRegion))
	}
	in := cloud.Input{Routes: env.Plugin == checks.PluginFlannel, ENIQuota: env.Plugin == checks.PluginTerway && env.TerwayMode != checks.TerwayVPC}
	types := map[string]bool{}
	for i := range s.Nodes {
		if id := checks.InstanceID(&s.Nodes[i]); id != "" {
			in.InstanceIDs = append(in.InstanceIDs, id)
		}
		if t := s.Nodes[i].Labels[checks.LabelInstanceType]; t != "" {
			types[t] = true
		}
	}
	for t := range types {
		in.InstanceTypes = append(in.InstanceTypes, t)
	}
	sort.Strings(in.InstanceTypes)
	if env.Plugin == checks.PluginTerway {
		in.VSwitchIDs = env.PodVSwitchIDs()
	}
	c, err := cloud.NewClient(cloud.Options{Region: region, Endpoint: o.CloudEndpoint})
	if err != nil {
		return nil, o.cloudFailed(err)
	}
	f, err := c.Read(ctx, in)
	if err != nil {
		return nil, o.cloudFailed(err)
	}
	f.RegionFrom = from
	o.cloudFacts = f
	calls := 0
	for _, n := range f.Calls {
		calls += n
	}
	fmt.Fprintf(o.ErrOut, "doctor --cloud: region %s (%s), credentials from %s, %d API calls (%d retried)\n", region, from, f.Source, calls, f.Retries)
	var ranges []cluster.PodRange
	for _, id := range in.VSwitchIDs {
		if vs, ok := f.VSwitches[id]; ok && vs.CIDR.IsValid() {
			ranges = append(ranges, cluster.PodRange{Name: id, Prefix: vs.CIDR})
		}
	}
	return ranges, nil
}

// cloudFailed keeps the error that ended --cloud, so Run reports it as
// itself rather than as a failed cluster read.
func (o *DoctorOptions) cloudFailed(err error) error {
	o.cloudErr = fmt.Errorf("doctor --cloud: %w", err)
	return o.cloudErr
}
