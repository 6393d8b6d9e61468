// Package cmwrite is the one way kubectl-acknet writes a ConfigMap: a
// labelled backup first, then an update with the resourceVersion that was
// read, so a change someone made in between is never overwritten; several
// ConfigMaps are written whole or not at all.
package cmwrite

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Labels and annotations of backups (a public contract: rollback and users'
// own tooling select on them).
const (
	LabelBackupOf         = "acknet.kubectl.io/backup-of"
	AnnotationBackupBy    = "acknet.kubectl.io/saved-by"
	AnnotationBackupRV    = "acknet.kubectl.io/resource-version"
	AnnotationBackupTaken = "acknet.kubectl.io/taken-at"
)

// ErrChanged is wrapped by a write that lost to a change made after the read.
var ErrChanged = errors.New("changed after it was read")

// ErrNotBackup is wrapped when Restore is given a ConfigMap that is no backup.
var ErrNotBackup = errors.New("not a backup")

// undoTimeout bounds putting back a partly written set; the undo runs even
// when the caller's context is cancelled, so a Ctrl-C never leaves half.
const undoTimeout = 30 * time.Second

// Store writes ConfigMaps through Client.
type Store struct {
	Client kubernetes.Interface
	// Labels are added to every backup (who made it).
	Labels map[string]string
	// Now is the clock of backup names; nil means time.Now.
	Now func() time.Time
}

// Change is the new content of one ConfigMap as it was read.
type Change struct {
	From       *corev1.ConfigMap
	Data       map[string]string
	BinaryData map[string][]byte
}

// Written is one ConfigMap written and the backup of what it held.
type Written struct {
	Stored *corev1.ConfigMap
	Backup string
}

// Object names a ConfigMap the way messages do.
func Object(cm *corev1.ConfigMap) string {
	return cm.Namespace + "/ConfigMap/" + cm.Name
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// Backup saves cm's data as a new labelled ConfigMap beside it and returns
// its name; by says what took it.
func (s *Store) Backup(ctx context.Context, cm *corev1.ConfigMap, by string) (string, error) {
	now := s.now()
	base := fmt.Sprintf("acknet-backup-%s-%s", cm.Name, now.Format("20060102-150405"))
	labels := maps.Clone(s.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelBackupOf] = cm.Name
	b := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: cm.Namespace,
			Labels:    labels,
			Annotations: map[string]string{
				AnnotationBackupBy:    by,
				AnnotationBackupRV:    cm.ResourceVersion,
				AnnotationBackupTaken: now.Format(time.RFC3339),
			},
		},
		Data:       cm.Data,
		BinaryData: cm.BinaryData,
	}
	// Names are per second; two backups of one ConfigMap in a second get a suffix.
	for i := 0; i < 10; i++ {
		b.Name = base
		if i > 0 {
			b.Name = fmt.Sprintf("%s-%d", base, i)
		}
		_, err := s.Client.CoreV1().ConfigMaps(cm.Namespace).Create(ctx, b, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			continue
		}
		if err != nil {
			// A create cut off after it reached the server may have made it.
			return "", fmt.Errorf("back up %s (as %s, which may exist): %w", Object(cm), b.Name, err)
		}
		return b.Name, nil
	}
	return "", fmt.Errorf("back up %s: backups named %s-* already exist", Object(cm), base)
}

// Write backs up c.From and then stores c's data with c.From's
// resourceVersion. On a conflict nothing is written, the now stale backup is
// removed and the error wraps ErrChanged. When the update fails otherwise (a
// timeout, Ctrl-C, a lost connection), the server may still have applied it:
// Write reads the ConfigMap again and reports what it holds, so a write that
// landed counts as written and one that did not says so.
func (s *Store) Write(ctx context.Context, c Change, by string) (Written, error) {
	backup, err := s.Backup(ctx, c.From, by)
	if err != nil {
		return Written{}, fmt.Errorf("%w; nothing written", err)
	}
	updated := c.From.DeepCopy()
	updated.Data, updated.BinaryData = c.Data, c.BinaryData
	cms := s.Client.CoreV1().ConfigMaps(c.From.Namespace)
	stored, err := cms.Update(ctx, updated, metav1.UpdateOptions{})
	if err == nil {
		return Written{Stored: stored, Backup: backup}, nil
	}
	checkCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	if apierrors.IsConflict(err) {
		_ = cms.Delete(checkCtx, backup, metav1.DeleteOptions{})
		return Written{}, fmt.Errorf("%s %w (resourceVersion %s): nothing written to it, the other change is kept",
			Object(c.From), ErrChanged, c.From.ResourceVersion)
	}
	now, gerr := cms.Get(checkCtx, c.From.Name, metav1.GetOptions{})
	switch {
	case gerr != nil:
		return Written{}, fmt.Errorf("write %s: %w; it may have been written (reading it back failed: %w); its backup is %s", Object(c.From), err, gerr, backup)
	case now.ResourceVersion == c.From.ResourceVersion:
		_ = cms.Delete(checkCtx, backup, metav1.DeleteOptions{})
		return Written{}, fmt.Errorf("write %s: %w; nothing written to it", Object(c.From), err)
	case reflect.DeepEqual(now.Data, c.Data) && reflect.DeepEqual(now.BinaryData, c.BinaryData):
		return Written{Stored: now, Backup: backup}, nil // it landed before the failure was seen
	default:
		return Written{}, fmt.Errorf("write %s: %w; it has changed since it was read, not to what was written; its backup is %s", Object(c.From), err, backup)
	}
}

// WriteAll writes every change or none: when one fails, those already
// written are put back as they were read, with the resourceVersion of our
// own write (so a change made since is not overwritten), and their backups
// removed. The error says what was put back and what could not be.
func (s *Store) WriteAll(ctx context.Context, changes []Change, by string) ([]Written, error) {
	var done []Written
	for _, c := range changes {
		w, err := s.Write(ctx, c, by)
		if err == nil {
			done = append(done, w)
			continue
		}
		if len(done) == 0 {
			return nil, err
		}
		undoCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
		defer cancel()
		var undone, kept []string
		for j, d := range done {
			orig := changes[j].From
			back := d.Stored.DeepCopy()
			back.Data, back.BinaryData = orig.Data, orig.BinaryData
			cms := s.Client.CoreV1().ConfigMaps(orig.Namespace)
			if _, uerr := cms.Update(undoCtx, back, metav1.UpdateOptions{}); uerr != nil {
				kept = append(kept, fmt.Sprintf("%s (could not put it back: %v; its backup is %s)", Object(orig), uerr, d.Backup))
				continue
			}
			if derr := cms.Delete(undoCtx, d.Backup, metav1.DeleteOptions{}); derr != nil {
				undone = append(undone, fmt.Sprintf("%s (its backup %s could not be removed: %v)", Object(orig), d.Backup, derr))
				continue
			}
			undone = append(undone, Object(orig))
		}
		if len(undone) > 0 {
			err = fmt.Errorf("%w; so, to write nothing of it, put back as it was (its backup removed): %s", err, strings.Join(undone, ", "))
		}
		if len(kept) > 0 {
			err = fmt.Errorf("%w; STILL CHANGED: %s", err, strings.Join(kept, ", "))
		}
		return nil, err
	}
	return done, nil
}

// Restore reads the backup named backup in namespace and the ConfigMap it
// was taken of, for the caller to compare and then Write.
func (s *Store) Restore(ctx context.Context, namespace, backup string) (b, current *corev1.ConfigMap, err error) {
	cms := s.Client.CoreV1().ConfigMaps(namespace)
	b, err = cms.Get(ctx, backup, metav1.GetOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("read backup %s/ConfigMap/%s: %w", namespace, backup, err)
	}
	target := b.Labels[LabelBackupOf]
	if target == "" {
		return nil, nil, fmt.Errorf("%s is no backup of kubectl acknet (no label %s): %w", Object(b), LabelBackupOf, ErrNotBackup)
	}
	current, err = cms.Get(ctx, target, metav1.GetOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("read %s/ConfigMap/%s: %w", namespace, target, err)
	}
	return b, current, nil
}
