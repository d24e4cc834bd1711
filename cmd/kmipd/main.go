// Command kmipd is the kmipd KMIP server: `kmipd init` writes a development
// set-up, `kmipd serve` runs the server.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "kmipd:", err)
		os.Exit(1)
	}
}
