package main

import (
	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "kmipctl",
		Short:         "kmipctl talks to KMIP servers and converts KMIP messages",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	addConnFlags(root)
	root.AddCommand(newConformanceCmd())
	return root
}

// exitCode maps an error onto the process exit status, in this one place.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	return 1
}
