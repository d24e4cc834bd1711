package main

import (
	"runtime/debug"

	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "kmipd",
		Short:         "kmipd is a KMIP server (KMIP 1.0-1.4, 2.0, 2.1 over mutual TLS)",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newVersionCmd(), newInitCmd(), newServeCmd(), newHSMCmd())
	root.AddCommand(newAuditCmd(), newBackupCmd(), newRestoreCmd(), newConfigCmd())
	root.AddCommand(newStoreCmd())
	root.AddCommand(newUserCmd())
	root.AddCommand(newDevCmd())
	return root
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
