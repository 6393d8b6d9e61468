package bundle

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-acknet/kubectl-acknet/internal/cluster"
)

// LogOptions bound what is read of each agent's log.
type LogOptions struct {
	Since time.Duration
	Lines int64
	// MaxBytes per pod (the API server cuts the stream there).
	MaxBytes int64
	// Concurrency of log reads (default 8).
	Concurrency int
}

// AgentLog is one agent pod's log, redacted.
type AgentLog struct {
	Pod        cluster.PodRef
	Container  string
	Data       []byte
	Redactions int
	Err        error
}

// Logs reads the recent logs of the network agents' pods (one request per
// pod, a bounded pool), redacts them, and hands each to sink as it is read,
// from the caller's goroutine: at most Concurrency logs are held at once,
// whatever the number of nodes. A sink error stops the reads and is
// returned.
func Logs(ctx context.Context, cs kubernetes.Interface, pods []cluster.PodRef, o LogOptions, sink func(AgentLog) error) error {
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan int)
	results := make(chan AgentLog)
	var wg sync.WaitGroup
	for w := 0; w < o.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				results <- readLog(ctx, cs, pods[i], o)
			}
		}()
	}
	go func() {
		defer close(results)
		defer wg.Wait()
		defer close(jobs)
		for i := range pods {
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	var err error
	for l := range results {
		if err != nil {
			continue // drain: the workers end once cancelled
		}
		if err = sink(l); err != nil {
			cancel()
		}
	}
	return err
}

func readLog(ctx context.Context, cs kubernetes.Interface, p cluster.PodRef, o LogOptions) AgentLog {
	l := AgentLog{Pod: p, Container: cluster.ContainerOf(p.Detail)}
	if ctx.Err() != nil {
		l.Err = ctx.Err()
		return l
	}
	opts := &corev1.PodLogOptions{Container: l.Container}
	if o.Since > 0 {
		secs := int64(o.Since.Seconds())
		opts.SinceSeconds = &secs
	}
	if o.Lines > 0 {
		opts.TailLines = &o.Lines
	}
	if o.MaxBytes > 0 {
		opts.LimitBytes = &o.MaxBytes
	}
	stream, err := cs.CoreV1().Pods(p.Namespace).GetLogs(p.Name, opts).Stream(ctx)
	if err != nil {
		l.Err = err
		return l
	}
	defer func() { _ = stream.Close() }()
	data, err := io.ReadAll(stream)
	if err != nil {
		l.Err = fmt.Errorf("read: %w", err)
		return l
	}
	text, n := Text(string(data))
	l.Data, l.Redactions = []byte(text), n
	return l
}

// IsForbidden tells a denied log read from another failure.
func IsForbidden(err error) bool { return apierrors.IsForbidden(err) }
