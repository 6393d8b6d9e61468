package cloud

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"sync"

	ecs "github.com/alibabacloud-go/ecs-20140526/v7/client"
	"github.com/alibabacloud-go/tea/dara"
	vpc "github.com/alibabacloud-go/vpc-20160428/v6/client"
)

// Page sizes: the largest each API takes.
const (
	instanceBatch     = 100 // DescribeInstances InstanceIds
	instanceTypeBatch = 10  // DescribeInstanceTypes InstanceTypes.N
	pageSize          = 50  // PageSize of the VPC Describe* calls
	routeEntryPage    = 100 // DescribeRouteEntryList MaxResult
)

// Input says what to read.
type Input struct {
	// InstanceIDs are the nodes' ECS instances (from spec.providerID).
	InstanceIDs []string
	// InstanceTypes are types known from node labels; the instances' own
	// types are added.
	InstanceTypes []string
	// VSwitchIDs are vSwitches the cluster names (Terway's pod vSwitches);
	// they find the VPC when the instances cannot be read.
	VSwitchIDs []string
	// Routes reads the route tables and their entries (Flannel);
	// ENIQuota the instance types (Terway).
	Routes   bool
	ENIQuota bool
}

// Read reads the parts of Facts the input asks for. It returns an error
// only when the credentials are missing or refused; any narrower failure is
// recorded in Facts.Errors.
func (c *Client) Read(ctx context.Context, in Input) (*Facts, error) {
	// Canceled at the first refusal of the credentials: the other calls
	// would be refused too.
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f := &Facts{
		Region:        c.opts.Region,
		Source:        c.source,
		Instances:     map[string]Instance{},
		VSwitches:     map[string]VSwitch{},
		InstanceTypes: map[string]InstanceType{},
		Errors:        map[string]*PartError{},
	}
	var mu sync.Mutex
	var credErr error
	fail := func(part string, err error) {
		if cerr := c.credentialsErr(err); cerr != nil {
			mu.Lock()
			if credErr == nil {
				credErr = cerr
			}
			mu.Unlock()
			cancel()
			return
		}
		var pe *PartError
		if !errors.As(err, &pe) {
			pe = &PartError{Kind: KindError, Message: c.redact.String(err.Error())}
		}
		mu.Lock()
		if f.Errors[part] == nil {
			f.Errors[part] = pe
		}
		mu.Unlock()
	}

	if err := c.readInstances(ctx, in.InstanceIDs, f, &mu); err != nil {
		if parent.Err() != nil {
			return nil, parent.Err()
		}
		if cerr := c.credentialsErr(err); cerr != nil {
			return nil, cerr
		}
		fail(PartInstances, err)
	}
	vpcs := map[string]bool{}
	for _, inst := range f.Instances {
		if inst.VPCID != "" {
			vpcs[inst.VPCID] = true
		}
	}
	if len(vpcs) == 0 && len(in.VSwitchIDs) > 0 {
		// Without the instances, the cluster's own vSwitches name the VPC:
		// the first one found is enough.
		for _, id := range in.VSwitchIDs {
			vs, err := c.vswitchPages(ctx, &vpc.DescribeVSwitchesRequest{VSwitchId: dara.String(id)})
			if err != nil {
				if cerr := c.credentialsErr(err); cerr != nil {
					return nil, cerr
				}
				fail(PartVSwitches, err)
				break
			}
			for _, v := range vs {
				vpcs[v.VPCID] = true
			}
			if len(vpcs) > 0 {
				break
			}
		}
	}
	for id := range vpcs {
		f.VPCs = append(f.VPCs, id)
	}
	sort.Strings(f.VPCs)
	if len(f.VPCs) == 0 {
		why := &PartError{Kind: KindError, Action: "ecs:DescribeInstances",
			Message: "the nodes' VPC is unknown: no node has an ECS provider ID (spec.providerID REGION.i-...) that the API knows, and no pod vSwitch names it"}
		if pe := f.Errors[PartInstances]; pe != nil {
			why = pe
		}
		for _, p := range []string{PartInstances, PartVSwitches, PartRouteTables, PartRouteEntries, PartNATGateways, PartSNATEntries} {
			if f.Errors[p] == nil {
				f.Errors[p] = why
			}
		}
	}

	types := map[string]bool{}
	for _, t := range in.InstanceTypes {
		types[t] = true
	}
	for _, inst := range f.Instances {
		if inst.Type != "" {
			types[inst.Type] = true
		}
	}

	var wg sync.WaitGroup
	run := func(part string, fn func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(); err != nil {
				fail(part, err)
			}
		}()
	}
	for _, id := range f.VPCs {
		run(PartVSwitches, func() error {
			vs, err := c.vswitchPages(ctx, &vpc.DescribeVSwitchesRequest{VpcId: dara.String(id)})
			mu.Lock()
			for _, v := range vs {
				f.VSwitches[v.ID] = v
			}
			mu.Unlock()
			return err
		})
		run(PartNATGateways, func() error { return c.readNAT(ctx, id, f, &mu, fail) })
		if in.Routes {
			run(PartRouteTables, func() error { return c.readRoutes(ctx, id, f, &mu, fail) })
		}
	}
	if in.ENIQuota && len(types) > 0 {
		run(PartInstanceTypes, func() error { return c.readInstanceTypes(ctx, slices.Sorted(maps.Keys(types)), f, &mu) })
	}
	wg.Wait()
	if credErr != nil {
		return nil, credErr
	}
	if parent.Err() != nil {
		return nil, parent.Err()
	}
	sort.Slice(f.RouteTables, func(i, j int) bool { return f.RouteTables[i].ID < f.RouteTables[j].ID })
	sort.Slice(f.NATGateways, func(i, j int) bool { return f.NATGateways[i].ID < f.NATGateways[j].ID })
	f.Calls, f.Retries = c.stats()
	return f, nil
}

// credentialsErr turns a refusal of the credentials into the error that
// ends --cloud.
func (c *Client) credentialsErr(err error) error {
	var pe *PartError
	if errors.As(err, &pe) && pe.Kind == KindCredentials {
		return &CredentialsError{Source: c.source, Code: pe.Code, Msg: pe.Message}
	}
	var ce *CredentialsError
	if errors.As(err, &ce) {
		return ce
	}
	return nil
}

func (c *Client) readInstances(ctx context.Context, ids []string, f *Facts, mu *sync.Mutex) error {
	ids = slices.Clone(ids)
	sort.Strings(ids)
	ids = slices.Compact(ids)
	var wg sync.WaitGroup
	var first error
	var emu sync.Mutex
	for start := 0; start < len(ids); start += instanceBatch {
		batch := ids[start:min(start+instanceBatch, len(ids))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			raw, _ := json.Marshal(batch)
			req := &ecs.DescribeInstancesRequest{RegionId: dara.String(c.opts.Region), InstanceIds: dara.String(string(raw)), MaxResults: dara.Int32(instanceBatch)}
			err := byToken(ctx, func(token string) (string, error) {
				if token != "" {
					req.NextToken = dara.String(token)
				}
				resp, err := call(ctx, c, "DescribeInstances", func(s *sdk) (*ecs.DescribeInstancesResponse, error) {
					return s.ecs.DescribeInstancesWithContext(ctx, req, c.runtime())
				})
				if err != nil {
					return "", err
				}
				body := resp.Body
				if body == nil {
					return "", nil
				}
				mu.Lock()
				if body.Instances != nil {
					for _, in := range body.Instances.Instance {
						inst := Instance{ID: dara.StringValue(in.InstanceId), Type: dara.StringValue(in.InstanceType), Zone: dara.StringValue(in.ZoneId)}
						if in.VpcAttributes != nil {
							inst.VPCID, inst.VSwitchID = dara.StringValue(in.VpcAttributes.VpcId), dara.StringValue(in.VpcAttributes.VSwitchId)
						}
						f.Instances[inst.ID] = inst
					}
				}
				mu.Unlock()
				return dara.StringValue(body.NextToken), nil
			})
			if err != nil {
				emu.Lock()
				if first == nil {
					first = err
				}
				emu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// vswitchPages lists vSwitches by page number.
func (c *Client) vswitchPages(ctx context.Context, req *vpc.DescribeVSwitchesRequest) ([]VSwitch, error) {
	req.RegionId, req.PageSize = dara.String(c.opts.Region), dara.Int32(pageSize)
	var out []VSwitch
	err := byPage(ctx, func(page int32) (int, int, error) {
		req.PageNumber = dara.Int32(page)
		resp, err := call(ctx, c, "DescribeVSwitches", func(s *sdk) (*vpc.DescribeVSwitchesResponse, error) {
			return s.vpc.DescribeVSwitchesWithOptions(req, c.runtime())
		})
		if err != nil {
			return 0, 0, err
		}
		b := resp.Body
		if b == nil || b.VSwitches == nil {
			return 0, 0, nil
		}
		for _, v := range b.VSwitches.VSwitch {
			vs := VSwitch{ID: dara.StringValue(v.VSwitchId), VPCID: dara.StringValue(v.VpcId), Zone: dara.StringValue(v.ZoneId), Free: dara.Int64Value(v.AvailableIpAddressCount)}
			vs.CIDR, _ = netip.ParsePrefix(dara.StringValue(v.CidrBlock))
			if v.RouteTable != nil {
				vs.RouteTableID = dara.StringValue(v.RouteTable.RouteTableId)
			}
			out = append(out, vs)
		}
		return len(b.VSwitches.VSwitch), int(dara.Int32Value(b.TotalCount)), nil
	})
	return out, err
}

func (c *Client) readInstanceTypes(ctx context.Context, types []string, f *Facts, mu *sync.Mutex) error {
	for start := 0; start < len(types); start += instanceTypeBatch {
		batch := types[start:min(start+instanceTypeBatch, len(types))]
		req := &ecs.DescribeInstanceTypesRequest{InstanceTypes: dara.StringSlice(batch), MaxResults: dara.Int64(100)}
		err := byToken(ctx, func(token string) (string, error) {
			if token != "" {
				req.NextToken = dara.String(token)
			}
			resp, err := call(ctx, c, "DescribeInstanceTypes", func(s *sdk) (*ecs.DescribeInstanceTypesResponse, error) {
				return s.ecs.DescribeInstanceTypesWithContext(ctx, req, c.runtime())
			})
			if err != nil {
				return "", err
			}
			b := resp.Body
			if b == nil {
				return "", nil
			}
			mu.Lock()
			if b.InstanceTypes != nil {
				for _, t := range b.InstanceTypes.InstanceType {
					it := InstanceType{ID: dara.StringValue(t.InstanceTypeId), ENIs: int(dara.Int32Value(t.EniQuantity)),
						IPsPerENI: int(dara.Int32Value(t.EniPrivateIpAddressQuantity)), TotalENIs: int(dara.Int32Value(t.EniTotalQuantity))}
					f.InstanceTypes[it.ID] = it
				}
			}
			mu.Unlock()
			return dara.StringValue(b.NextToken), nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *Client) readRoutes(ctx context.Context, vpcID string, f *Facts, mu *sync.Mutex, fail func(string, error)) error {
	req := &vpc.DescribeRouteTableListRequest{RegionId: dara.String(c.opts.Region), VpcId: dara.String(vpcID), PageSize: dara.Int32(pageSize)}
	var tables []RouteTable
	err := byPage(ctx, func(page int32) (int, int, error) {
		req.PageNumber = dara.Int32(page)
		resp, err := call(ctx, c, "DescribeRouteTableList", func(s *sdk) (*vpc.DescribeRouteTableListResponse, error) {
			return s.vpc.DescribeRouteTableListWithOptions(req, c.runtime())
		})
		if err != nil {
			return 0, 0, err
		}
		b := resp.Body
		if b == nil || b.RouterTableList == nil {
			return 0, 0, nil
		}
		for _, t := range b.RouterTableList.RouterTableListType {
			// Gateway route tables (of an IPv4 gateway) route what enters
			// the VPC; pod routes live in the vSwitches' tables.
			if at := dara.StringValue(t.AssociateType); at != "" && at != "VSwitch" {
				continue
			}
			rt := RouteTable{ID: dara.StringValue(t.RouteTableId), VPCID: dara.StringValue(t.VpcId), Type: dara.StringValue(t.RouteTableType)}
			if rt.VPCID == "" {
				rt.VPCID = vpcID
			}
			if t.VSwitchIds != nil {
				rt.VSwitches = dara.StringSliceValue(t.VSwitchIds.VSwitchId)
			}
			tables = append(tables, rt)
		}
		return len(b.RouterTableList.RouterTableListType), int(dara.Int32Value(b.TotalCount)), nil
	})
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	for i := range tables {
		wg.Add(1)
		go func() {
			defer wg.Done()
			entries, err := c.routeEntries(ctx, tables[i].ID)
			if err != nil {
				fail(PartRouteEntries, err)
				return
			}
			tables[i].Entries, tables[i].EntriesRead = entries, true
		}()
	}
	wg.Wait()
	mu.Lock()
	f.RouteTables = append(f.RouteTables, tables...)
	mu.Unlock()
	return nil
}

// routeEntries lists the custom entries of a route table by NextToken.
func (c *Client) routeEntries(ctx context.Context, table string) ([]RouteEntry, error) {
	req := &vpc.DescribeRouteEntryListRequest{RegionId: dara.String(c.opts.Region), RouteTableId: dara.String(table),
		RouteEntryType: dara.String("Custom"), MaxResult: dara.Int32(routeEntryPage)}
	var out []RouteEntry
	err := byToken(ctx, func(token string) (string, error) {
		if token != "" {
			req.NextToken = dara.String(token)
		}
		resp, err := call(ctx, c, "DescribeRouteEntryList", func(s *sdk) (*vpc.DescribeRouteEntryListResponse, error) {
			return s.vpc.DescribeRouteEntryListWithOptions(req, c.runtime())
		})
		if err != nil {
			return "", err
		}
		b := resp.Body
		if b == nil {
			return "", nil
		}
		if b.RouteEntrys != nil {
			for _, e := range b.RouteEntrys.RouteEntry {
				re := RouteEntry{Destination: dara.StringValue(e.DestinationCidrBlock), Status: dara.StringValue(e.Status)}
				if e.NextHops != nil {
					for _, h := range e.NextHops.NextHop {
						re.NextHops = append(re.NextHops, dara.StringValue(h.NextHopId))
					}
				}
				out = append(out, re)
			}
		}
		return dara.StringValue(b.NextToken), nil
	})
	return out, err
}

func (c *Client) readNAT(ctx context.Context, vpcID string, f *Facts, mu *sync.Mutex, fail func(string, error)) error {
	req := &vpc.DescribeNatGatewaysRequest{RegionId: dara.String(c.opts.Region), VpcId: dara.String(vpcID), PageSize: dara.Int32(pageSize)}
	var gws []NATGateway
	err := byPage(ctx, func(page int32) (int, int, error) {
		req.PageNumber = dara.Int32(page)
		resp, err := call(ctx, c, "DescribeNatGateways", func(s *sdk) (*vpc.DescribeNatGatewaysResponse, error) {
			return s.vpc.DescribeNatGatewaysWithOptions(req, c.runtime())
		})
		if err != nil {
			return 0, 0, err
		}
		b := resp.Body
		if b == nil || b.NatGateways == nil {
			return 0, 0, nil
		}
		for _, g := range b.NatGateways.NatGateway {
			gw := NATGateway{ID: dara.StringValue(g.NatGatewayId), VPCID: dara.StringValue(g.VpcId), NetworkType: dara.StringValue(g.NetworkType)}
			if g.SnatTableIds != nil {
				gw.SNATTables = dara.StringSliceValue(g.SnatTableIds.SnatTableId)
			}
			gws = append(gws, gw)
		}
		return len(b.NatGateways.NatGateway), int(dara.Int32Value(b.TotalCount)), nil
	})
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	for i := range gws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			gws[i].EntriesRead = true
			for _, table := range gws[i].SNATTables {
				entries, err := c.snatEntries(ctx, table)
				if err != nil {
					gws[i].EntriesRead = false
					fail(PartSNATEntries, err)
					return
				}
				gws[i].SNATEntries = append(gws[i].SNATEntries, entries...)
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	f.NATGateways = append(f.NATGateways, gws...)
	mu.Unlock()
	return nil
}

func (c *Client) snatEntries(ctx context.Context, table string) ([]SNATEntry, error) {
	req := &vpc.DescribeSnatTableEntriesRequest{RegionId: dara.String(c.opts.Region), SnatTableId: dara.String(table), PageSize: dara.Int32(pageSize)}
	var out []SNATEntry
	err := byPage(ctx, func(page int32) (int, int, error) {
		req.PageNumber = dara.Int32(page)
		resp, err := call(ctx, c, "DescribeSnatTableEntries", func(s *sdk) (*vpc.DescribeSnatTableEntriesResponse, error) {
			return s.vpc.DescribeSnatTableEntriesWithOptions(req, c.runtime())
		})
		if err != nil {
			return 0, 0, err
		}
		b := resp.Body
		if b == nil || b.SnatTableEntries == nil {
			return 0, 0, nil
		}
		for _, e := range b.SnatTableEntries.SnatTableEntry {
			out = append(out, SNATEntry{ID: dara.StringValue(e.SnatEntryId), VSwitchID: dara.StringValue(e.SourceVSwitchId),
				SourceCIDR: dara.StringValue(e.SourceCIDR), Status: dara.StringValue(e.Status)})
		}
		return len(b.SnatTableEntries.SnatTableEntry), int(dara.Int32Value(b.TotalCount)), nil
	})
	return out, err
}

// call runs one typed SDK call through do.
func call[R any](ctx context.Context, c *Client, action string, fn func(*sdk) (R, error)) (R, error) {
	var resp R
	err := c.do(ctx, action, func(s *sdk) (err error) {
		resp, err = fn(s)
		return err
	})
	if err != nil {
		// resp is not read: after Ctrl-C the abandoned call may still be
		// writing it.
		var zero R
		return zero, err
	}
	return resp, nil
}

// maxPages bounds every paged list: a server that never says "last page"
// must not keep doctor calling.
const maxPages = 1000

// byPage calls fetch for pages 1, 2, ... until it has seen total items (as
// the first answer states it), a page comes back empty, or maxPages.
func byPage(ctx context.Context, fetch func(page int32) (n, total int, err error)) error {
	seen := 0
	for page := int32(1); page <= maxPages; page++ {
		n, total, err := fetch(page)
		if err != nil {
			return err
		}
		seen += n
		if n == 0 || seen >= total {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return fmt.Errorf("more than %d pages", maxPages)
}

// byToken calls fetch with the NextToken of the previous answer until one
// comes back empty; a token that repeats ends the list with an error.
func byToken(ctx context.Context, fetch func(token string) (next string, err error)) error {
	seen := map[string]bool{}
	token := ""
	for i := 0; i < maxPages; i++ {
		next, err := fetch(token)
		if err != nil || next == "" {
			return err
		}
		if seen[next] {
			return fmt.Errorf("NextToken %q came back twice", next)
		}
		seen[next] = true
		if err := ctx.Err(); err != nil {
			return err
		}
		token = next
	}
	return fmt.Errorf("more than %d pages", maxPages)
}
