// Command cloudsim runs the local Alibaba Cloud API server of the tests
// (internal/cloud/cloudtest) for the demo: it plays the VPC of a world file
// on 127.0.0.1 and accepts one demo AccessKey.
//
//	go run ./hack/cloudsim -world test/scenarios/cloud-terway/cloud/world.yaml -- \
//	    bin/kubectl-acknet doctor --cloud --cloud-endpoint {endpoint}
//
// With a command it runs it with the demo key in ALIBABA_CLOUD_ACCESS_KEY_ID
// and ALIBABA_CLOUD_ACCESS_KEY_SECRET and {endpoint} replaced by the
// server's URL, then stops; without one it serves until interrupted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"

	"github.com/kubectl-acknet/kubectl-acknet/internal/cloud"
	"github.com/kubectl-acknet/kubectl-acknet/internal/cloud/cloudtest"
)

// The demo key: it opens nothing but this local server.
const (
	demoKeyID     = "LTAI5tDemoKeyId00000001"
	demoKeySecret = "demo-secret-for-the-local-api-only"
)

func main() {
	world := flag.String("world", "test/scenarios/cloud-terway/cloud/world.yaml", "World file (YAML) the server plays")
	listen := flag.String("listen", "127.0.0.1:0", "Address to listen on (loopback only)")
	flag.Parse()
	code, err := run(*world, *listen, flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "cloudsim:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(worldFile, listen string, command []string) (int, error) {
	w, err := cloudtest.LoadWorld(worldFile)
	if err != nil {
		return 0, err
	}
	w.Keys = append(w.Keys, cloudtest.Key{ID: demoKeyID, Secret: demoKeySecret})
	s, err := cloudtest.Start(w, listen)
	if err != nil {
		return 0, err
	}
	defer func() { _ = s.Close() }()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(command) == 0 {
		fmt.Printf("Local Alibaba Cloud API (%s) at %s. Use it with:\n", worldFile, s.URL())
		fmt.Printf("  export %s=%s %s=%s\n", cloud.EnvAccessKeyID, demoKeyID, cloud.EnvAccessKeySecret, demoKeySecret)
		fmt.Printf("  kubectl acknet doctor --cloud --cloud-endpoint %s\n", s.URL())
		<-ctx.Done()
		return 0, nil
	}
	args := make([]string, len(command))
	for i, a := range command {
		args[i] = strings.ReplaceAll(a, "{endpoint}", s.URL())
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), cloud.EnvAccessKeyID+"="+demoKeyID, cloud.EnvAccessKeySecret+"="+demoKeySecret)
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), nil
	}
	return 0, err
}
