package main

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
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
	root.AddCommand(clientCommands(root)...)
	root.SetGlobalNormalizationFunc(flagAliases)
	return root
}

// flagAliases maps the short flag names scripts already use onto the
// documented ones: --alg is --algorithm.
func flagAliases(_ *pflag.FlagSet, name string) pflag.NormalizedName {
	if name == "alg" {
		name = "algorithm"
	}
	return pflag.NormalizedName(name)
}

// exitCode maps an error onto the process exit status, in this one place:
//
//	0  success
//	1  any other failure
//	2  usage: bad flags, arguments or flag values, bad config file
//	3  connection or TLS: cannot connect, handshake or certificate failure,
//	   connection lost
//	4  KMIP operation failed: the server answered with a failure
//	5  not found: the server answered Object Not Found (Item Not Found in
//	   KMIP 1.x, Attribute (Instance) Not Found for attributes)
func exitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case isUsage(err):
		return 2
	case isNotFound(err):
		return 5
	case isKMIPFailure(err):
		return 4
	case isConnFailure(err):
		return 3
	}
	return 1
}
