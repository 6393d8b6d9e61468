package connectivity

import (
	"fmt"
	"net"
	"path"
	"strings"
)

// Family is an IP family of a cell.
type Family string

// The families, in report order.
const (
	IPv4 Family = "ipv4"
	IPv6 Family = "ipv6"
)

// Role is a test pod's part: a client that only dials, a server that
// answers HTTP on port 80 (and dials its own Service for the hairpin), a
// hostNetwork pod that answers on the host port (and dials pods as the node).
type Role string

// The roles of the test pods.
const (
	RoleClient Role = "client"
	RoleServer Role = "server"
	RoleHost   Role = "hostnet"
)

// ServerPort is where the server pods listen; KubeletPort is dialled for
// pod -> node (every node's kubelet listens there).
const (
	ServerPort  = 80
	KubeletPort = 10250
)

// TargetType says how a cell's address is found once the pods run.
type TargetType string

// The target types.
const (
	ToPod       TargetType = "pod"       // the IP of pod Role on Node
	ToClusterIP TargetType = "clusterip" // the ClusterIP of the Service of the server on Node
	ToNodePort  TargetType = "nodeport"  // the NodePort of that Service, on the IP of node At
	ToNode      TargetType = "node"      // node Node's IP, the kubelet port
	ToHeadless  TargetType = "headless"  // the name of the headless Service of the server beside the client, resolved, then port 80
	ToDNS       TargetType = "dns"       // kube-dns over Proto
	ToExternal  TargetType = "external"  // Host:Port as the user gave it
)

// Target is what a cell dials.
type Target struct {
	Type  TargetType
	Role  Role
	Node  int
	At    int
	Proto string
	Host  string
	Port  string
}

// Endpoint is a test pod: a role on the node of that index.
type Endpoint struct {
	Role Role
	Node int
}

// Cell is one path tried in one family.
type Cell struct {
	ID     string
	Kind   Kind
	Family Family
	From   Endpoint
	To     Target
	// Between lists the node indexes the path involves, for explaining a
	// fault that concerns one node.
	Between []int
	// Skip is set for a cell that cannot run; it says why.
	Skip string
}

// Input is what the plan needs to know about the cluster.
type Input struct {
	Nodes    []string
	Families []Family
	// External targets, HOST:PORT, as the user named them.
	External []string
}

// Plan returns every cell of the matrix for the nodes and families. Paths
// that need two nodes are one skipped cell when there is one; a family the
// cluster does not have is one skipped cell per path.
func Plan(in Input) []Cell {
	var cells []Cell
	has := map[Family]bool{}
	for _, f := range in.Families {
		has[f] = true
	}
	n := len(in.Nodes)
	name := func(i int) string { return in.Nodes[i] }
	pair := func(a, b int) string { return name(a) + "->" + name(b) }
	for _, f := range []Family{IPv4, IPv6} {
		if !has[f] {
			for _, k := range Kinds {
				if k.Kind == External && len(in.External) == 0 {
					continue
				}
				cells = append(cells, Cell{ID: string(k.Kind) + "/" + string(f), Kind: k.Kind, Family: f,
					Skip: "the test pods have no " + string(f) + " address: the cluster is not dual-stack"})
			}
			continue
		}
		id := func(k Kind, parts ...string) string {
			return strings.Join(append([]string{string(k), string(f)}, parts...), "/")
		}
		add := func(c Cell) {
			c.Family = f
			cells = append(cells, c)
		}
		crossSkip := func(k Kind) {
			add(Cell{ID: id(k), Kind: k, Skip: "needs two nodes; choose them with --nodes or -l"})
		}
		for i := 0; i < n; i++ {
			add(Cell{ID: id(PodPodSameNode, name(i)), Kind: PodPodSameNode, From: Endpoint{RoleClient, i},
				To: Target{Type: ToPod, Role: RoleServer, Node: i}, Between: []int{i}})
		}
		if n < 2 {
			crossSkip(PodPodCrossNode)
		}
		for a := 0; a < n; a++ {
			for b := 0; b < n; b++ {
				if a != b {
					add(Cell{ID: id(PodPodCrossNode, pair(a, b)), Kind: PodPodCrossNode, From: Endpoint{RoleClient, a},
						To: Target{Type: ToPod, Role: RoleServer, Node: b}, Between: []int{a, b}})
				}
			}
		}
		for i := 0; i < n; i++ {
			add(Cell{ID: id(Hairpin, name(i)), Kind: Hairpin, From: Endpoint{RoleServer, i},
				To: Target{Type: ToClusterIP, Node: i}, Between: []int{i}})
		}
		if n < 2 {
			crossSkip(ClusterIP)
		}
		for a := 0; a < n; a++ {
			for b := 0; b < n; b++ {
				if a != b {
					add(Cell{ID: id(ClusterIP, pair(a, b)), Kind: ClusterIP, From: Endpoint{RoleClient, a},
						To: Target{Type: ToClusterIP, Node: b}, Between: []int{a, b}})
				}
			}
		}
		// A NodePort on each node, from a client on each node: the Service
		// of the server on the node dialled, so its backend is local there.
		for a := 0; a < n; a++ {
			for b := 0; b < n; b++ {
				add(Cell{ID: id(NodePort, pair(a, b)), Kind: NodePort, From: Endpoint{RoleClient, a},
					To: Target{Type: ToNodePort, Node: b, At: b}, Between: uniq(a, b)})
			}
		}
		for i := 0; i < n; i++ {
			add(Cell{ID: id(Headless, name(i)), Kind: Headless, From: Endpoint{RoleClient, i},
				To: Target{Type: ToHeadless}, Between: []int{i}})
		}
		for a := 0; a < n; a++ {
			for b := 0; b < n; b++ {
				add(Cell{ID: id(HostNetwork, "pod->hostnet", pair(a, b)), Kind: HostNetwork, From: Endpoint{RoleClient, a},
					To: Target{Type: ToPod, Role: RoleHost, Node: b}, Between: uniq(a, b)})
				add(Cell{ID: id(HostNetwork, "pod->node", pair(a, b)), Kind: HostNetwork, From: Endpoint{RoleClient, a},
					To: Target{Type: ToNode, Node: b}, Between: uniq(a, b)})
				add(Cell{ID: id(HostNetwork, "node->pod", pair(a, b)), Kind: HostNetwork, From: Endpoint{RoleHost, a},
					To: Target{Type: ToPod, Role: RoleServer, Node: b}, Between: uniq(a, b)})
			}
		}
		for i := 0; i < n; i++ {
			for _, proto := range []string{"udp", "tcp"} {
				add(Cell{ID: id(DNS, name(i), proto), Kind: DNS, From: Endpoint{RoleClient, i},
					To: Target{Type: ToDNS, Proto: proto}, Between: []int{i}})
			}
		}
		for _, e := range in.External {
			host, port, err := net.SplitHostPort(e)
			if err != nil || !familyOfHost(host, f) {
				continue
			}
			for i := 0; i < n; i++ {
				add(Cell{ID: id(External, name(i), e), Kind: External, From: Endpoint{RoleClient, i},
					To: Target{Type: ToExternal, Host: host, Port: port}, Between: []int{i}})
			}
		}
	}
	return cells
}

// familyOfHost: an address belongs to its family; a name is tried in both.
func familyOfHost(host string, f Family) bool {
	ip := net.ParseIP(host)
	if ip == nil {
		return true
	}
	return (ip.To4() != nil) == (f == IPv4)
}

func uniq(a, b int) []int {
	if a == b {
		return []int{a}
	}
	return []int{a, b}
}

// Select keeps the cells matching the patterns: globs or prefixes of cell
// IDs (conn.hairpin, conn.dns*, conn.pod-pod-cross-node/ipv4); a pattern
// starting with ! excludes. No include pattern selects every cell.
func Select(cells []Cell, patterns []string) ([]Cell, error) {
	var include, exclude []string
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		if _, err := path.Match(p, ""); err != nil || p == "" {
			return nil, fmt.Errorf("bad --test pattern %q", p)
		}
		if !anyMatch(cells, p) {
			return nil, fmt.Errorf("--test %q matches no test (the tests: %s)", p, kindList())
		}
		if neg {
			exclude = append(exclude, p)
		} else {
			include = append(include, p)
		}
	}
	var out []Cell
	for _, c := range cells {
		if len(include) > 0 && !matchAny(include, c) {
			continue
		}
		if matchAny(exclude, c) {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// matches: the pattern matches the cell's ID or a leading part of it
// (kind, kind/family, ...), so conn.hairpin and conn.*/ipv6 select whole
// groups.
func matches(p string, c Cell) bool {
	parts := strings.Split(c.ID, "/")
	for k := 1; k <= len(parts); k++ {
		if ok, _ := path.Match(p, strings.Join(parts[:k], "/")); ok {
			return true
		}
	}
	return false
}

func matchAny(ps []string, c Cell) bool {
	for _, p := range ps {
		if matches(p, c) {
			return true
		}
	}
	return false
}

func anyMatch(cells []Cell, p string) bool {
	for _, c := range cells {
		if matches(p, c) {
			return true
		}
	}
	return false
}

func kindList() string {
	var ks []string
	for _, k := range Kinds {
		ks = append(ks, string(k.Kind))
	}
	return strings.Join(ks, ", ")
}

// Needs returns, per node index, the roles the cells dial from or to, so
// only the pods a selection uses are deployed; services says whether any
// cell needs the server Services.
func Needs(cells []Cell) (roles map[int]map[Role]bool, services bool) {
	roles = map[int]map[Role]bool{}
	need := func(r Role, n int) {
		if roles[n] == nil {
			roles[n] = map[Role]bool{}
		}
		roles[n][r] = true
	}
	for _, c := range cells {
		if c.Skip != "" {
			continue
		}
		need(c.From.Role, c.From.Node)
		switch c.To.Type {
		case ToPod:
			need(c.To.Role, c.To.Node)
		case ToClusterIP, ToNodePort:
			need(RoleServer, c.To.Node)
			services = true
		case ToHeadless:
			// The headless Service answers with the servers; one on the
			// client's node is enough to be found.
			need(RoleServer, c.From.Node)
			services = true
		}
	}
	return roles, services
}
