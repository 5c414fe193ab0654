// Command zerocost ranks neural networks before training with zero-cost proxies.
//
// Run `zerocost help` for the commands.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// main cancels the command's context on the first SIGINT or SIGTERM (rank
// finishes the models being scored, records them and stops); a second one
// ends the process at once.
func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // the next signal has its default effect
		fmt.Fprintln(os.Stderr, "zerocost: stopping after the models being scored (signal again to stop now)")
	}()
	os.Exit(Main(ctx, os.Args[1:], os.Stdout, os.Stderr))
}
