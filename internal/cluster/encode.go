package cluster

import (
	"encoding/json"
	"fmt"
	"io"
)

// The envelope of an encoded Snapshot: what `kubectl acknet bundle` stores
// and `doctor --from-bundle` replays.
const (
	SnapshotAPIVersion = "acknet.kubectl.io/v1alpha1"
	SnapshotKind       = "ClusterSnapshot"
)

type envelope struct {
	APIVersion string    `json:"apiVersion"`
	Kind       string    `json:"kind"`
	Snapshot   *Snapshot `json:"snapshot"`
}

// Encode writes the snapshot as versioned JSON. Every field the checks read
// survives the round trip, so a replay gives the same report.
func Encode(w io.Writer, s *Snapshot) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	return enc.Encode(envelope{APIVersion: SnapshotAPIVersion, Kind: SnapshotKind, Snapshot: s})
}

// Decode reads what Encode wrote; another version or kind is refused, not
// guessed at.
func Decode(r io.Reader) (*Snapshot, error) {
	var e envelope
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("decode snapshot: %w", err)
	}
	if e.APIVersion != SnapshotAPIVersion || e.Kind != SnapshotKind {
		return nil, fmt.Errorf("decode snapshot: %s %s, want %s %s (a bundle of another kubectl-acknet version?)", e.APIVersion, e.Kind, SnapshotAPIVersion, SnapshotKind)
	}
	if e.Snapshot == nil {
		return nil, fmt.Errorf("decode snapshot: no snapshot")
	}
	return e.Snapshot, nil
}
