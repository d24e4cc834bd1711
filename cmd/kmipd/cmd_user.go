package main

import (
	"bufio"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kmipd/kmipd/internal/authn"
)

func newUserCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage the users of Username and Password credentials",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "hash",
		Short: "Read a password from standard input and print its argon2id hash for users[].password_hash",
		Long: "Reads one line (the password, without its line end) from standard input and prints the\n" +
			"argon2id PHC string to put in a user's password_hash in kmipd.yaml.\n" +
			"Example: kmipd user hash < password-file",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
			if err != nil && line == "" {
				return errors.New("no password on standard input")
			}
			pw := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
			if pw == "" {
				return errors.New("empty password")
			}
			h, err := authn.HashPassword([]byte(pw), authn.DefaultHashParams)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), h)
			return err
		},
	})
	return cmd
}
