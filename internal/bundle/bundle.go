// Package bundle writes and reads the support bundle: one .tar.gz with the
// cluster snapshot doctor reads (redacted), doctor's report, the network
// agents' recent logs (redacted), the plugin's version and its own log, and
// a MANIFEST of what was collected, denied, skipped and redacted. Secrets
// are never read.
package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/kubectl-acknet/kubectl-acknet/internal/checks"
	"github.com/kubectl-acknet/kubectl-acknet/internal/cluster"
)

// Paths inside the archive.
const (
	Root          = "acknet-bundle"
	SnapshotFile  = "snapshot.json"
	NodeFactsFile = "nodefacts.json"
	ReportFile    = "report.json"
	ManifestFile  = "MANIFEST.json"
	ManifestText  = "MANIFEST.txt"
	VersionFile   = "version.txt"
	ActivityFile  = "acknet.log"
	LogsDir       = "logs"
)

// The MANIFEST's kind.
const (
	ManifestAPIVersion = "acknet.kubectl.io/v1alpha1"
	ManifestKind       = "BundleManifest"
)

// SizeLimit is the attachment limit of common issue trackers.
const SizeLimit = 25 << 20

// Manifest says what a bundle holds.
type Manifest struct {
	APIVersion    string    `json:"apiVersion"`
	Kind          string    `json:"kind"`
	Created       time.Time `json:"created"`
	Server        string    `json:"server"`
	PluginVersion string    `json:"pluginVersion"`
	// Command is what ran, without values of flags that could be secret.
	Command    string      `json:"command"`
	Files      []File      `json:"files"`
	Denied     []Item      `json:"denied"`
	Skipped    []Item      `json:"skipped"`
	Redactions []Redaction `json:"redactions"`
	// NotCollected names what a bundle never holds.
	NotCollected []string `json:"notCollected"`
}

// File is one file of the archive.
type File struct {
	Path  string `json:"path"`
	Bytes int    `json:"bytes"`
	What  string `json:"what"`
}

// Item is a read that was denied or skipped, and why.
type Item struct {
	What   string `json:"what"`
	Reason string `json:"reason"`
}

// NeverCollected is the list every MANIFEST carries.
var NeverCollected = []string{
	"Secrets (never read)",
	"credentials in ConfigMaps and logs (replaced by " + Redacted + ", listed under redactions)",
	"pods' specs beyond the fields the checks read (the snapshot holds aggregates)",
}

// Writer writes a bundle archive; Close adds the MANIFEST.
type Writer struct {
	gz *gzip.Writer
	tw *tar.Writer
	m  *Manifest
	at time.Time
}

// NewWriter starts an archive on w.
func NewWriter(w io.Writer, m *Manifest) *Writer {
	gz := gzip.NewWriter(w)
	m.APIVersion, m.Kind = ManifestAPIVersion, ManifestKind
	if m.NotCollected == nil {
		m.NotCollected = NeverCollected
	}
	return &Writer{gz: gz, tw: tar.NewWriter(gz), m: m, at: m.Created}
}

// Add writes one file and lists it in the MANIFEST.
func (w *Writer) Add(name, what string, data []byte) error {
	hdr := &tar.Header{Name: path.Join(Root, name), Mode: 0o644, Size: int64(len(data)), ModTime: w.at, Typeflag: tar.TypeReg}
	if err := w.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("bundle: %s: %w", name, err)
	}
	if _, err := w.tw.Write(data); err != nil {
		return fmt.Errorf("bundle: %s: %w", name, err)
	}
	w.m.Files = append(w.m.Files, File{Path: name, Bytes: len(data), What: what})
	return nil
}

// Close writes the MANIFEST (JSON and text) and ends the archive.
func (w *Writer) Close() error {
	sort.Slice(w.m.Denied, func(i, j int) bool { return w.m.Denied[i].What < w.m.Denied[j].What })
	sort.Slice(w.m.Skipped, func(i, j int) bool { return w.m.Skipped[i].What < w.m.Skipped[j].What })
	text := []byte(w.m.String())
	w.m.Files = append(w.m.Files, File{Path: ManifestText, Bytes: len(text), What: "this MANIFEST, for people"})
	js, err := json.MarshalIndent(w.m, "", "  ")
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{ManifestFile, append(js, '\n')}, {ManifestText, text}} {
		hdr := &tar.Header{Name: path.Join(Root, f.name), Mode: 0o644, Size: int64(len(f.data)), ModTime: w.at, Typeflag: tar.TypeReg}
		if err := w.tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := w.tw.Write(f.data); err != nil {
			return err
		}
	}
	if err := w.tw.Close(); err != nil {
		return err
	}
	return w.gz.Close()
}

// String is the MANIFEST for people.
func (m *Manifest) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kubectl-acknet bundle of %s, %s (kubectl-acknet %s)\n", m.Server, m.Created.Format(time.RFC3339), m.PluginVersion)
	fmt.Fprintf(&b, "command: %s\n\nfiles:\n", m.Command)
	for _, f := range m.Files {
		fmt.Fprintf(&b, "  %-40s %9d  %s\n", f.Path, f.Bytes, f.What)
	}
	section := func(title string, items []Item) {
		fmt.Fprintf(&b, "\n%s:", title)
		if len(items) == 0 {
			b.WriteString(" none\n")
			return
		}
		b.WriteString("\n")
		for _, it := range items {
			fmt.Fprintf(&b, "  %s: %s\n", it.What, it.Reason)
		}
	}
	section("denied (RBAC)", m.Denied)
	section("skipped", m.Skipped)
	b.WriteString("\nredacted:")
	if len(m.Redactions) == 0 {
		b.WriteString(" nothing\n")
	} else {
		b.WriteString("\n")
		for _, r := range m.Redactions {
			fmt.Fprintf(&b, "  %s: %s (%d)\n", r.Where, r.What, r.Count)
		}
	}
	b.WriteString("\nnever collected:\n")
	for _, n := range m.NotCollected {
		fmt.Fprintf(&b, "  %s\n", n)
	}
	return b.String()
}

// ReadsOf sorts the snapshot's failed reads into denied and skipped items.
func ReadsOf(s *cluster.Snapshot) (denied, skipped []Item) {
	for key, e := range s.Reads {
		it := Item{What: key, Reason: e.Reason + ": " + e.Message}
		switch e.Reason {
		case "Forbidden":
			denied = append(denied, it)
		default:
			skipped = append(skipped, it)
		}
	}
	return denied, skipped
}

// NodeFacts is the nodefacts.json of a bundle made with --node-checks: what
// each node's debug pod gave back, redacted, by node.
type NodeFacts struct {
	APIVersion string                     `json:"apiVersion"`
	Kind       string                     `json:"kind"`
	Nodes      map[string]*checks.NodeRaw `json:"nodes"`
}

// NodeFactsKind is the kind of nodefacts.json.
const NodeFactsKind = "NodeFacts"

// RedactNodeFacts redacts the scripts' output in place (it holds no
// credentials by design; this is the belt to those braces).
func RedactNodeFacts(raws map[string]*checks.NodeRaw) []Redaction {
	var out []Redaction
	for _, node := range slices.Sorted(maps.Keys(raws)) {
		// A failed node's error carries the script's stderr.
		if text, n := Text(raws[node].Err); n > 0 {
			raws[node].Err = text
			out = append(out, Redaction{Where: "node " + node + " error", What: "credentials in the message", Count: n})
		}
		for _, name := range slices.Sorted(maps.Keys(raws[node].Sections)) {
			sec := raws[node].Sections[name]
			if text, n := Text(sec.Output); n > 0 {
				sec.Output = text
				out = append(out, Redaction{Where: "node " + node + " script " + name, What: "credentials in the output", Count: n})
			}
		}
	}
	return out
}

// Contents is what Open read of a bundle.
type Contents struct {
	Snapshot *cluster.Snapshot
	Manifest *Manifest
	// Nodes are the raw node facts; nil when the bundle was made without
	// --node-checks.
	Nodes map[string]*checks.NodeRaw
}

// Open reads a bundle's snapshot, MANIFEST and node facts.
func Open(file string) (*Contents, error) {
	snap, m, nodes, err := open(file)
	if err != nil {
		return nil, err
	}
	return &Contents{Snapshot: snap, Manifest: m, Nodes: nodes}, nil
}

func open(file string) (*cluster.Snapshot, *Manifest, map[string]*checks.NodeRaw, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, nil, nil, err
	}
	defer func() { _ = f.Close() }()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: not a bundle (gzip: %w)", file, err)
	}
	tr := tar.NewReader(gz)
	var snap *cluster.Snapshot
	var m *Manifest
	var nodes map[string]*checks.NodeRaw
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%s: %w", file, err)
		}
		switch hdr.Name {
		case path.Join(Root, SnapshotFile):
			if snap, err = cluster.Decode(io.LimitReader(tr, 256<<20)); err != nil {
				return nil, nil, nil, fmt.Errorf("%s: %w", file, err)
			}
		case path.Join(Root, NodeFactsFile):
			var nf NodeFacts
			if err := json.NewDecoder(io.LimitReader(tr, 256<<20)).Decode(&nf); err != nil {
				return nil, nil, nil, fmt.Errorf("%s: %s: %w", file, NodeFactsFile, err)
			}
			if nf.Kind != NodeFactsKind || nf.APIVersion != ManifestAPIVersion {
				return nil, nil, nil, fmt.Errorf("%s: %s: %s %s, want %s %s", file, NodeFactsFile, nf.APIVersion, nf.Kind, ManifestAPIVersion, NodeFactsKind)
			}
			nodes = nf.Nodes
		case path.Join(Root, ManifestFile):
			data, err := io.ReadAll(io.LimitReader(tr, 16<<20))
			if err != nil {
				return nil, nil, nil, fmt.Errorf("%s: %w", file, err)
			}
			m = &Manifest{}
			if err := json.NewDecoder(bytes.NewReader(data)).Decode(m); err != nil {
				return nil, nil, nil, fmt.Errorf("%s: MANIFEST: %w", file, err)
			}
		}
	}
	if snap == nil || m == nil {
		return nil, nil, nil, fmt.Errorf("%s: not a kubectl-acknet bundle (no %s or %s)", file, SnapshotFile, ManifestFile)
	}
	return snap, m, nodes, nil
}
