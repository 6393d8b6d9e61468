// Command kwokrun stands in for the kubelet of the rig's simulated (kwok)
// nodes for one kind of pod: the plugin's result pods (labelled
// acknet.kubectl.io/run), whose container runs a node script as its own
// command and leaves the result in its termination message. kwok makes
// pods Running but runs nothing; kwokrun runs the container's command on
// this machine once kwok has marked the pod Running (as kwok's local exec
// does for exec: the scripts read the fake host root the test passed), and
// writes the pod's status as the kubelet would: the container terminated,
// with the termination message, and the pod Succeeded.
//
// With --memo it runs each distinct command (argv and environment) once and
// gives every pod that runs it the same end: `make bench` points a thousand
// nodes at one fake host root, and this machine's two cores running a
// thousand scripts would measure this stand-in, not the plugin; on a real
// cluster each node runs its own script on its own CPU.
//
// What it cannot stand in for: the container log. kwok serves one file for
// every pod's log, so a result too large for the termination message cannot
// be read back from a simulated node; the real nodes test that path.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"
)

const (
	labelRun       = "acknet.kubectl.io/run"
	fakeAnnotation = "kwok.x-k8s.io/node"
	resultFileEnv  = "ACKNET_RESULT_FILE"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the rig")
	workDir := flag.String("work-dir", "", "directory commands run in")
	workers := flag.Int("workers", 8, "commands run at once")
	memoize := flag.Bool("memo", false, "run each distinct command once and reuse its end (for benchmarks)")
	flag.Parse()
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		log.Fatalf("kwokrun: %v", err)
	}
	cfg.QPS, cfg.Burst = 500, 1000
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		log.Fatalf("kwokrun: %v", err)
	}
	nodes := informers.NewSharedInformerFactory(cs, 0)
	_ = nodes.Core().V1().Nodes().Informer() // registered before Start, so the lister is fed
	pods := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.LabelSelector = labelRun
	}))
	queue := make(chan *corev1.Pod, 10000)
	var seenMu sync.Mutex
	seen := map[string]bool{}
	enqueue := func(obj any) {
		p, ok := obj.(*corev1.Pod)
		if !ok || p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil || terminated(p) {
			return
		}
		n, err := nodes.Core().V1().Nodes().Lister().Get(p.Spec.NodeName)
		if err != nil || n.Annotations[fakeAnnotation] != "fake" {
			return // a real node's kubelet runs it
		}
		seenMu.Lock()
		defer seenMu.Unlock()
		if seen[string(p.UID)] {
			return
		}
		seen[string(p.UID)] = true
		queue <- p
	}
	podInformer := pods.Core().V1().Pods().Informer()
	if _, err := podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: func(obj any) {
			if p, ok := obj.(*corev1.Pod); ok {
				seenMu.Lock()
				delete(seen, string(p.UID))
				seenMu.Unlock()
			}
		},
	}); err != nil {
		log.Fatalf("kwokrun: %v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	nodes.Start(ctx.Done())
	nodes.WaitForCacheSync(ctx.Done())
	pods.Start(ctx.Done())

	run := runCommand
	if *memoize {
		run = memo(runCommand)
	}
	var wg sync.WaitGroup
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case p := <-queue:
					if err := runPod(ctx, cs, *workDir, p, run); err != nil {
						log.Printf("kwokrun: %s/%s: %v", p.Namespace, p.Name, err)
					}
				}
			}
		}()
	}
	wg.Wait()
}

func terminated(p *corev1.Pod) bool {
	for _, c := range p.Status.ContainerStatuses {
		if c.State.Terminated != nil {
			return true
		}
	}
	return false
}

// ending is how a command ended: its exit code and termination message.
type ending struct {
	code    int
	message string
	started time.Time
}

// runCommand runs argv with env in workDir, as the container would, and
// reads the termination message the command wrote.
func runCommand(ctx context.Context, workDir string, argv, env []string) ending {
	e := ending{started: time.Now()}
	tmp, err := os.MkdirTemp("", "kwokrun-")
	if err != nil {
		return ending{code: 1, message: err.Error(), started: e.started}
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	msgFile := filepath.Join(tmp, "termination-log")
	env = append(append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TMPDIR=" + tmp}, env...), resultFileEnv+"="+msgFile)
	runCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(runCtx, argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = workDir, env
	if err := cmd.Run(); err != nil {
		e.code = 1
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			e.code = ee.ExitCode()
		}
	}
	msg, _ := os.ReadFile(msgFile)
	if len(msg) > 4096 {
		msg = msg[len(msg)-4096:] // the kubelet keeps the last 4,096 bytes
	}
	e.message = string(msg)
	return e
}

type runner func(ctx context.Context, workDir string, argv, env []string) ending

// memo runs each distinct command once; pods that run it meanwhile wait.
func memo(run runner) runner {
	type entry struct {
		done chan struct{}
		e    ending
	}
	var mu sync.Mutex
	seen := map[string]*entry{}
	return func(ctx context.Context, workDir string, argv, env []string) ending {
		key := strings.Join(append(append([]string{workDir}, argv...), env...), "\x00")
		mu.Lock()
		en, ok := seen[key]
		if !ok {
			en = &entry{done: make(chan struct{})}
			seen[key] = en
		}
		mu.Unlock()
		if !ok {
			en.e = run(ctx, workDir, argv, env)
			close(en.done)
		}
		<-en.done
		return en.e
	}
}

// runPod runs the pod's one container command and records its end.
func runPod(ctx context.Context, cs kubernetes.Interface, workDir string, p *corev1.Pod, run runner) error {
	c := p.Spec.Containers[0]
	argv := append(append([]string{}, c.Command...), c.Args...)
	if len(argv) == 0 {
		return fmt.Errorf("no command")
	}
	var env []string
	for _, e := range c.Env {
		if e.Name != resultFileEnv {
			env = append(env, e.Name+"="+e.Value)
		}
	}
	e := run(ctx, workDir, argv, env)
	reason := "Completed"
	if e.code != 0 {
		reason = "Error"
	}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := cs.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.Now()
		cur.Status.Phase = corev1.PodSucceeded
		if e.code != 0 {
			cur.Status.Phase = corev1.PodFailed
		}
		cur.Status.ContainerStatuses = []corev1.ContainerStatus{{
			Name: c.Name, Image: c.Image, ImageID: c.Image,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: int32(e.code), Reason: reason, Message: e.message,
				StartedAt: metav1.NewTime(e.started), FinishedAt: now,
			}},
		}}
		for i := range cur.Status.Conditions {
			if t := cur.Status.Conditions[i].Type; t == corev1.PodReady || t == corev1.ContainersReady {
				cur.Status.Conditions[i].Status = corev1.ConditionFalse
				cur.Status.Conditions[i].LastTransitionTime = now
			}
		}
		_, err = cs.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
}
