// Command zerocost ranks neural networks before training with zero-cost proxies.
//
// Run `zerocost help` for the commands.
package main

import (
	"context"
	"os"
)

func main() { os.Exit(Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr)) }
