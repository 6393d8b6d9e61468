package plugin

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"
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

func TestFirstInterruptCancelsSecondExits(t *testing.T) {
	exited := make(chan int, 1)
	n := &NodeOptions{exit: func(code int) { exited <- code }}
	r := nodeexec.NewRunner(fake.NewSimpleClientset(), &rest.Config{}, nodeexec.Options{})
	var errOut syncBuffer
	ctx, stop := n.interruptible(context.Background(), genericiooptions.IOStreams{ErrOut: &errOut}, r)
	defer stop()

	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
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
