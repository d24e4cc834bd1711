package main

import (
	"fmt"
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
	root.AddCommand(newUserCmd())
	return root
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the kmipd version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), "kmipd", version())
			return err
		},
	}
}
