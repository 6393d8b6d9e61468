package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
)

// ErrInterrupted is the cause of the run's cancellation on the first
// SIGINT or SIGTERM.
var ErrInterrupted = errors.New("interrupted")

// interrupts is what the running command said about an interrupt.
type interrupts struct {
	mu        sync.Mutex
	msg       string
	leftovers func() []string
	// atExit runs on the second interrupt, before the exit: what a
	// command must undo even then (a partial file).
	atExit []func()
}

type interruptsKey struct{}

// WithInterrupts is the two-stage Ctrl-C of the process, set up once in
// main: the first SIGINT or SIGTERM prints what the command said it does
// then (onInterrupt) and cancels the context with ErrInterrupted, so the
// command deletes what it made, with a fresh context; a second exits at once
// through exit with code 130, naming what may be left and the cleanup
// command.
func WithInterrupts(parent context.Context, errOut io.Writer, exit func(int)) (context.Context, func()) {
	in := &interrupts{msg: "interrupted: stopping"}
	ctx, cancel := context.WithCancelCause(context.WithValue(parent, interruptsKey{}, in))
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	stopped := make(chan struct{})
	go func() {
		select {
		case <-sigs:
		case <-stopped:
			return
		}
		in.mu.Lock()
		msg := in.msg
		in.mu.Unlock()
		fmt.Fprintln(errOut, msg+" (interrupt again to exit at once)")
		cancel(ErrInterrupted)
		select {
		case <-sigs:
			in.mu.Lock()
			leftovers, fns := in.leftovers, slices.Clone(in.atExit)
			in.mu.Unlock()
			for _, fn := range fns {
				fn()
			}
			if leftovers == nil {
				fmt.Fprintln(errOut, "exiting")
			} else {
				fmt.Fprintf(errOut, "exiting; what may be left: %s\nremove it with: kubectl acknet cleanup\n", strings.Join(leftovers(), ", "))
			}
			exit(130)
		case <-stopped:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(stopped)
		cancel(nil)
	}
}

// onInterrupt says what the command does on the first interrupt (msg) and
// what may be left when a second one exits at once; the returned func puts
// back what was said before. Without WithInterrupts (a command run inside a
// test) it does nothing.
func onInterrupt(ctx context.Context, msg string, leftovers func() []string) func() {
	in, ok := ctx.Value(interruptsKey{}).(*interrupts)
	if !ok {
		return func() {}
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	prevMsg, prevLeft := in.msg, in.leftovers
	in.msg, in.leftovers = msg, leftovers
	return func() {
		in.mu.Lock()
		defer in.mu.Unlock()
		in.msg, in.leftovers = prevMsg, prevLeft
	}
}

// atExit registers fn to run when a second interrupt exits at once; the
// returned func unregisters it. Without WithInterrupts it does nothing.
func atExit(ctx context.Context, fn func()) func() {
	in, ok := ctx.Value(interruptsKey{}).(*interrupts)
	if !ok {
		return func() {}
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.atExit = append(in.atExit, fn)
	i := len(in.atExit) - 1
	return func() {
		in.mu.Lock()
		defer in.mu.Unlock()
		in.atExit[i] = func() {}
	}
}

// interrupted tells whether ctx ended because of an interrupt (not a
// timeout).
func interrupted(ctx context.Context) bool {
	return errors.Is(context.Cause(ctx), ErrInterrupted)
}
