package cluster

import (
	"bufio"
	"context"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
)

// Log lines the checks look for, matched case-insensitively.
var logPatterns = map[string][]string{
	// The failure, and the line each proxier logs when it starts.
	"kube-proxy": {"can't use the ipvs proxier", "using iptables proxier", "using ipvs proxier", "using nftables proxier"},
	"terway":     {strings.ToLower(MsgVSwitchIPNotEnough)},
}

// containerOf names the container whose log is read; "" lets the API pick
// the only container.
var containerOf = map[string]string{"terway": "terway", "kube-proxy": ""}

// readLogs reads the recent logs of the add-on pods found while paging pods,
// with bounded concurrency, a time bound and a line cap per pod.
func (r *reader) readLogs(ctx context.Context) {
	logs := &Logs{Lines: map[string][]string{}}
	r.s.Logs = logs
	if r.s.ReadErr(ReadPods) != nil {
		r.record(ReadLogs, r.s.ReadErr(ReadPods))
		return
	}
	workers := r.opts.LogConcurrency
	if workers <= 0 {
		workers = 8
	}
	jobs := make(chan PodRef)
	var mu sync.Mutex
	var wg sync.WaitGroup
	var forbidden error
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range jobs {
				lines, err := r.podLogLines(ctx, p)
				mu.Lock()
				if err != nil {
					logs.Failed++
					if forbidden == nil && isForbidden(err) {
						forbidden = err
					}
				} else {
					logs.Read++
					if len(lines) > 0 {
						logs.Lines[p.Namespace+"/"+p.Name] = lines
					}
				}
				mu.Unlock()
			}
		}()
	}
	for _, p := range r.s.Pods.SystemPods {
		select {
		case jobs <- p:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	if forbidden != nil && logs.Read == 0 {
		r.record(ReadLogs, forbidden)
	}
}

func (r *reader) podLogLines(ctx context.Context, p PodRef) ([]string, error) {
	opts := &corev1.PodLogOptions{Container: containerOf[p.Detail]}
	if r.opts.LogSince > 0 {
		secs := int64(r.opts.LogSince.Seconds())
		opts.SinceSeconds = &secs
	}
	if r.opts.LogLines > 0 {
		n := r.opts.LogLines
		opts.TailLines = &n
	}
	stream, err := r.cs.CoreV1().Pods(p.Namespace).GetLogs(p.Name, opts).Stream(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = stream.Close() }()
	var out []string
	sc := bufio.NewScanner(stream)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		low := strings.ToLower(line)
		for _, pat := range logPatterns[p.Detail] {
			if strings.Contains(low, pat) {
				if len(out) < MaxSamples {
					out = append(out, line)
				}
				break
			}
		}
	}
	return out, sc.Err()
}
