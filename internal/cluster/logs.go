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
var containerOf = map[string]string{"terway": "terway", "kube-proxy": "", "flannel": "kube-flannel"}

// ContainerOf is the container whose log is an agent's own, for a kind of
// SystemPods ("" lets the API pick the only container).
func ContainerOf(kind string) string { return containerOf[kind] }

// PolicyLogSuffix marks, in Logs.Lines, the lines of a Terway pod's policy
// container: "namespace/pod" + PolicyLogSuffix.
const PolicyLogSuffix = ":policy"

// policyPattern is what the policy container prints when in-cluster load
// balancing took effect (the FAQ's way to verify it).
const policyPattern = "enable-in-cluster-loadbalance=true"

// readPolicyLogs says whether to read the Terway policy containers too: only
// when eni-config turns in-cluster load balancing on, as nothing else needs
// them and each is one more request per node.
func (r *reader) readPolicyLogs() bool {
	return r.s.ConfigMaps[CMENIConfig]["in_cluster_loadbalance"] == "true"
}

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
	policyLogs := r.readPolicyLogs()
	jobs := make(chan PodRef)
	var mu sync.Mutex
	var wg sync.WaitGroup
	var forbidden error
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range jobs {
				lines, err := r.podLogLines(ctx, p, containerOf[p.Detail], logPatterns[p.Detail])
				var policy []string
				if err == nil && p.Detail == "terway" && policyLogs {
					// A pod without a policy container is no failure here.
					policy, _ = r.podLogLines(ctx, p, "policy", []string{policyPattern})
				}
				mu.Lock()
				if len(policy) > 0 {
					logs.Lines[p.Namespace+"/"+p.Name+PolicyLogSuffix] = policy
				}
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
		if len(logPatterns[p.Detail]) == 0 {
			continue // no check reads its log
		}
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

func (r *reader) podLogLines(ctx context.Context, p PodRef, container string, patterns []string) ([]string, error) {
	opts := &corev1.PodLogOptions{Container: container}
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
		for _, pat := range patterns {
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
