// Command kmipctl is the kmipd administration and KMIP client tool.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "kmipctl:", err)
		os.Exit(exitCode(err))
	}
}
