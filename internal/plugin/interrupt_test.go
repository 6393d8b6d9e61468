package plugin

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"

	"github.com/kubectl-acknet/kubectl-acknet/internal/nodeexec"
)

// syncBuffer is written by the signal goroutine and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Signals are handled once, in main: the first interrupt prints what the
// running command said and cancels; the second exits at once.
func TestFirstInterruptCancelsSecondExits(t *testing.T) {
	exited := make(chan int, 1)
	n := &NodeOptions{}
	r := nodeexec.NewRunner(fake.NewSimpleClientset(), &rest.Config{}, nodeexec.Options{})
	var errOut syncBuffer
	ctx, stop := WithInterrupts(context.Background(), &errOut, func(code int) { exited <- code })
	defer stop()
	// Before the command says anything, an interrupt would say "stopping".
	defer n.onInterrupt(ctx, r)()

	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
		if !interrupted(ctx) {
			t.Errorf("cancelled by %v, want ErrInterrupted", context.Cause(ctx))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first interrupt did not cancel the work")
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-exited:
		if code != 130 {
			t.Errorf("exit code %d, want 130", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the second interrupt did not exit")
	}
	out := errOut.String()
	for _, want := range []string{"interrupted: deleting the debug pods", "kubectl acknet cleanup"} {
		if !strings.Contains(out, want) {
			t.Errorf("stderr lacks %q:\n%s", want, out)
		}
	}
}

// What a command says on interrupt is its own while it runs, and put back
// after; outside WithInterrupts saying it does nothing.
func TestOnInterruptRestores(t *testing.T) {
	ctx, stop := WithInterrupts(context.Background(), io.Discard, func(int) {})
	defer stop()
	in := ctx.Value(interruptsKey{}).(*interrupts)
	restore := onInterrupt(ctx, "interrupted: deleting the test namespace x", func() []string { return []string{"namespace/x"} })
	if in.msg != "interrupted: deleting the test namespace x" || in.leftovers == nil {
		t.Errorf("registered %q", in.msg)
	}
	restore()
	if in.msg != "interrupted: stopping" || in.leftovers != nil {
		t.Errorf("after restore %q", in.msg)
	}
	onInterrupt(context.Background(), "x", nil)() // must not panic
}

// What must be undone even on the second interrupt (a partial file) runs
// before the exit; what was unregistered does not.
func TestSecondInterruptRunsAtExit(t *testing.T) {
	exited := make(chan int, 1)
	ctx, stop := WithInterrupts(context.Background(), io.Discard, func(code int) { exited <- code })
	defer stop()
	file := filepath.Join(t.TempDir(), "partial.tar.gz")
	if err := os.WriteFile(file, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	var ranOther atomic.Bool
	atExit(ctx, func() { ranOther.Store(true) })()
	defer atExit(ctx, func() { _ = os.Remove(file) })()
	for i := 0; i < 2; i++ {
		if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			<-ctx.Done()
		}
	}
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Fatal("the second interrupt did not exit")
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("the partial file is still there: %v", err)
	}
	if ranOther.Load() {
		t.Error("an unregistered function ran")
	}
}
