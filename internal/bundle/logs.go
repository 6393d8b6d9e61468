package bundle

import (
	"context"
	"fmt"
	"io"
	"sort"
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
// pod, a bounded pool), redacts them, and returns them sorted by pod.
func Logs(ctx context.Context, cs kubernetes.Interface, pods []cluster.PodRef, o LogOptions) []AgentLog {
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	out := make([]AgentLog, len(pods))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < o.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				out[i] = readLog(ctx, cs, pods[i], o)
			}
		}()
	}
	for i := range pods {
		select {
		case jobs <- i:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	sort.Slice(out, func(i, j int) bool {
		return out[i].Pod.Namespace+"/"+out[i].Pod.Name < out[j].Pod.Namespace+"/"+out[j].Pod.Name
	})
	return out
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
