// Command modelgate finds code-execution payloads in machine-learning model
// files without running them.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/modelgate/modelgate/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
