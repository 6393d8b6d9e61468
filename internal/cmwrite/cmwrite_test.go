package cmwrite

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func configMap(name, v string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kube-system", ResourceVersion: "1"},
		Data:       map[string]string{"config.conf": v},
	}
}

func conflict(name string) error {
	return apierrors.NewConflict(schema.GroupResource{Resource: "configmaps"}, name, errors.New("changed"))
}

func data(t *testing.T, cs *fake.Clientset, name string) string {
	t.Helper()
	got, err := cs.CoreV1().ConfigMaps("kube-system").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got.Data["config.conf"]
}

func backups(t *testing.T, cs *fake.Clientset) []corev1.ConfigMap {
	t.Helper()
	l, err := cs.CoreV1().ConfigMaps("kube-system").List(context.Background(), metav1.ListOptions{LabelSelector: LabelBackupOf})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

// Several ConfigMaps land whole or not at all: when a later write fails,
// those already written are put back as they were read and their backups
// removed, also when the caller's context is cancelled (Ctrl-C) meanwhile.
func TestWriteAllIsAllOrNothing(t *testing.T) {
	tests := []struct {
		name string
		// fail returns the error of an Update of the named ConfigMap
		// holding v, or nil to let it through.
		fail       func(name, v string, cancel func()) error
		wantErr    string
		wantIs     error
		wantMaster string
		wantWorker string
		backups    int
	}{
		{name: "both written", wantMaster: "new-m", wantWorker: "new-w", backups: 2},
		{name: "conflict on the second: the first is put back",
			fail: func(name, v string, _ func()) error {
				if name == "kube-proxy-worker" && v == "new-w" {
					return conflict(name)
				}
				return nil
			},
			wantErr: "put back as it was (its backup removed): kube-system/ConfigMap/kube-proxy-master",
			wantIs:  ErrChanged, wantMaster: "old-m", wantWorker: "old-w", backups: 0},
		{name: "Ctrl-C during the second: the first is still put back",
			fail: func(name, v string, cancel func()) error {
				if name == "kube-proxy-worker" && v == "new-w" {
					cancel()
					return context.Canceled
				}
				return nil
			},
			wantErr: "put back as it was", wantIs: context.Canceled, wantMaster: "old-m", wantWorker: "old-w", backups: 0},
		{name: "the first fails: nothing written, no backup left",
			fail: func(name, v string, _ func()) error {
				if name == "kube-proxy-master" {
					return errors.New("boom")
				}
				return nil
			},
			wantErr: "write kube-system/ConfigMap/kube-proxy-master: boom; nothing written to it", wantMaster: "old-m", wantWorker: "old-w", backups: 0},
		{name: "the undo fails too: what is still changed is named with its backup",
			fail: func(name, v string, _ func()) error {
				if name == "kube-proxy-worker" || (name == "kube-proxy-master" && v == "old-m") {
					return errors.New("apiserver gone")
				}
				return nil
			},
			wantErr:    "STILL CHANGED: kube-system/ConfigMap/kube-proxy-master (could not put it back: apiserver gone; its backup is acknet-backup-kube-proxy-master-",
			wantMaster: "new-m", wantWorker: "old-w", backups: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			master, worker := configMap("kube-proxy-master", "old-m"), configMap("kube-proxy-worker", "old-w")
			cs := fake.NewSimpleClientset(master.DeepCopy(), worker.DeepCopy())
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.fail != nil {
				cs.PrependReactor("update", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
					obj := a.(k8stesting.UpdateAction).GetObject().(*corev1.ConfigMap)
					if err := tt.fail(obj.Name, obj.Data["config.conf"], cancel); err != nil {
						return true, nil, err
					}
					return false, nil, nil
				})
			}
			s := &Store{Client: cs, Labels: map[string]string{"app.kubernetes.io/managed-by": "test"}}
			written, err := s.WriteAll(ctx, []Change{
				{From: master, Data: map[string]string{"config.conf": "new-m"}},
				{From: worker, Data: map[string]string{"config.conf": "new-w"}},
			}, "fix test")
			if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err %v, want %q", err, tt.wantErr)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("err %v does not wrap %v", err, tt.wantIs)
			}
			if err == nil && len(written) != 2 {
				t.Errorf("%d written, want 2", len(written))
			}
			if got := data(t, cs, "kube-proxy-master"); got != tt.wantMaster {
				t.Errorf("kube-proxy-master holds %q, want %q", got, tt.wantMaster)
			}
			if got := data(t, cs, "kube-proxy-worker"); got != tt.wantWorker {
				t.Errorf("kube-proxy-worker holds %q, want %q", got, tt.wantWorker)
			}
			bs := backups(t, cs)
			if len(bs) != tt.backups {
				t.Fatalf("%d backups left, want %d", len(bs), tt.backups)
			}
			for _, b := range bs {
				if b.Labels["app.kubernetes.io/managed-by"] != "test" || b.Annotations[AnnotationBackupBy] != "fix test" || b.Annotations[AnnotationBackupRV] != "1" {
					t.Errorf("backup %s: labels %v annotations %v", b.Name, b.Labels, b.Annotations)
				}
				if !strings.HasPrefix(b.Data["config.conf"], "old-") {
					t.Errorf("backup %s holds %q, want the data as read", b.Name, b.Data["config.conf"])
				}
			}
		})
	}
}

// Two backups of one ConfigMap in the same second get distinct names.
func TestBackupNamesDoNotCollide(t *testing.T) {
	cm := configMap("kube-flannel-cfg", "x")
	cs := fake.NewSimpleClientset(cm.DeepCopy())
	at := time.Date(2026, 12, 1, 17, 43, 21, 0, time.UTC)
	s := &Store{Client: cs, Now: func() time.Time { return at }}
	var names []string
	for i := 0; i < 3; i++ {
		n, err := s.Backup(context.Background(), cm, "test")
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	want := []string{"acknet-backup-kube-flannel-cfg-20261201-174321", "acknet-backup-kube-flannel-cfg-20261201-174321-1", "acknet-backup-kube-flannel-cfg-20261201-174321-2"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("names %v, want %v", names, want)
	}
}

func TestRestore(t *testing.T) {
	tests := []struct {
		name, backup string
		objects      []runtime.Object
		wantErr      string
		wantIs       error
	}{
		{name: "a backup and its ConfigMap", backup: "b1", objects: []runtime.Object{
			configMap("kube-proxy-worker", "now"),
			&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "b1", Namespace: "kube-system", Labels: map[string]string{LabelBackupOf: "kube-proxy-worker"}}},
		}},
		{name: "no backup label", backup: "kube-proxy-worker", objects: []runtime.Object{configMap("kube-proxy-worker", "now")},
			wantErr: "is no backup of kubectl acknet", wantIs: ErrNotBackup},
		{name: "the backup is missing", backup: "b1", wantErr: "read backup kube-system/ConfigMap/b1"},
		{name: "its ConfigMap is gone", backup: "b1", objects: []runtime.Object{
			&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "b1", Namespace: "kube-system", Labels: map[string]string{LabelBackupOf: "kube-proxy-worker"}}},
		}, wantErr: "read kube-system/ConfigMap/kube-proxy-worker"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Store{Client: fake.NewSimpleClientset(tt.objects...)}
			b, cur, err := s.Restore(context.Background(), "kube-system", tt.backup)
			if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err %v, want %q", err, tt.wantErr)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("err %v does not wrap %v", err, tt.wantIs)
			}
			if err == nil && (b.Name != tt.backup || cur.Name != "kube-proxy-worker") {
				t.Errorf("got %s and %s", b.Name, cur.Name)
			}
		})
	}
}

// A write that loses to a change made after the read writes nothing and
// leaves no stale backup.
func TestWriteConflictRemovesItsBackup(t *testing.T) {
	cm := configMap("kube-proxy-worker", "old")
	cs := fake.NewSimpleClientset(cm.DeepCopy())
	cs.PrependReactor("update", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, conflict("kube-proxy-worker")
	})
	_, err := (&Store{Client: cs}).Write(context.Background(), Change{From: cm, Data: map[string]string{"config.conf": "new"}}, "test")
	if !errors.Is(err, ErrChanged) || !strings.Contains(err.Error(), "nothing written to it") {
		t.Fatalf("err %v", err)
	}
	if bs := backups(t, cs); len(bs) != 0 {
		t.Errorf("%d backups left", len(bs))
	}
}

// An update the client saw fail may still have landed (a timeout, Ctrl-C
// after the request went out): Write reads the ConfigMap back and counts a
// write that landed as written, and says so when it cannot tell.
func TestWriteThatLandedDespiteAnError(t *testing.T) {
	tests := []struct {
		name      string
		land      bool // the server applies the update before the error
		getFails  bool
		wantErr   string
		wantData  string
		wantCount int // backups left
	}{
		{name: "landed: written", land: true, wantData: "new", wantCount: 1},
		{name: "did not land: nothing written, no backup", wantErr: "nothing written to it", wantData: "old", wantCount: 0},
		{name: "cannot read it back: may be written, backup named", getFails: true, wantErr: "it may have been written (reading it back failed: gone); its backup is acknet-backup-kube-proxy-worker-", wantData: "old", wantCount: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cm := configMap("kube-proxy-worker", "old")
			cs := fake.NewSimpleClientset(cm.DeepCopy())
			cs.PrependReactor("update", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
				if tt.land {
					obj := a.(k8stesting.UpdateAction).GetObject().(*corev1.ConfigMap).DeepCopy()
					obj.ResourceVersion = "2"
					if err := cs.Tracker().Update(corev1.SchemeGroupVersion.WithResource("configmaps"), obj, "kube-system"); err != nil {
						t.Fatal(err)
					}
				}
				return true, nil, context.DeadlineExceeded
			})
			if tt.getFails {
				cs.PrependReactor("get", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, errors.New("gone")
				})
			}
			w, err := (&Store{Client: cs}).Write(context.Background(), Change{From: cm, Data: map[string]string{"config.conf": "new"}}, "test")
			if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err %v, want %q", err, tt.wantErr)
			}
			if err == nil && (w.Backup == "" || w.Stored == nil) {
				t.Errorf("written without its backup or stored object: %+v", w)
			}
			if !tt.getFails {
				if got := data(t, cs, "kube-proxy-worker"); got != tt.wantData {
					t.Errorf("holds %q, want %q", got, tt.wantData)
				}
				if n := len(backups(t, cs)); n != tt.wantCount {
					t.Errorf("%d backups left, want %d", n, tt.wantCount)
				}
			}
		})
	}
}
