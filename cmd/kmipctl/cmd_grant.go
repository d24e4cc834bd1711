package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kmipd/kmipd/internal/access"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// grantJSON is one grantee's grant, in the output of grants.
type grantJSON struct {
	Identity    string   `json:"identity"`
	Operations  []string `json:"operations"`
	FollowReKey bool     `json:"follow_rekey"`
}

// grantsJSON is the output of grants.
type grantsJSON struct {
	ID     string      `json:"id"`
	Grants []grantJSON `json:"grants"`
}

// grantChangeJSON is the output of grant and ungrant.
type grantChangeJSON struct {
	ID         string   `json:"id"`
	Operation  string   `json:"operation"`
	Identity   string   `json:"identity"`
	Operations []string `json:"operations,omitempty"`
}

// grantOptions are the flags of grant and ungrant.
type grantOptions struct {
	to, from    string
	ops         []string
	followReKey bool
}

func newGrantCmd() *cobra.Command {
	var o grantOptions
	cmd := &cobra.Command{
		Use:   "grant ID --to IDENTITY --ops OP,...",
		Short: "Let another identity of your tenant apply operations to an object (kmipd)",
		Long: `Grant another identity of the object's tenant some operations on one object
(kmipd's Grant vendor operation). Only the owner or an admin may grant.
Operation names are KMIP's in any case, with or without hyphens: encrypt,
decrypt, sign, signature-verify, mac, mac-verify, derive-key, get,
get-attributes, locate, activate, revoke, destroy, rekey, export, ...
What the grantee may do is also bounded by its roles: a crypto identity
granted get still cannot Get. --follow-rekey copies the grant to the key
that Re-key makes.`,
		Example: `  kmipctl grant 42 --to bob --ops encrypt,decrypt
  kmipctl grant 42 --to backup --ops get,export --follow-rekey`,
		Args: args(1, 1, "ID"),
		RunE: func(cmd *cobra.Command, a []string) error { return runGrant(cmd, a, &o) },
	}
	cmd.Flags().StringVar(&o.to, "to", "", "identity to grant to")
	cmd.Flags().StringSliceVar(&o.ops, "ops", nil, "operations to grant, comma-separated")
	cmd.Flags().BoolVar(&o.followReKey, "follow-rekey", false, "Re-key copies the grant to the replacement key")
	return cmd
}

func newUngrantCmd() *cobra.Command {
	var o grantOptions
	cmd := &cobra.Command{
		Use:   "ungrant ID --from IDENTITY [--ops OP,...]",
		Short: "Take back operations granted on an object (all of them without --ops) (kmipd)",
		Example: `  kmipctl ungrant 42 --from bob
  kmipctl ungrant 42 --from bob --ops decrypt`,
		Args: args(1, 1, "ID"),
		RunE: func(cmd *cobra.Command, a []string) error { return runUngrant(cmd, a, &o) },
	}
	cmd.Flags().StringVar(&o.from, "from", "", "identity to take the grant from")
	cmd.Flags().StringSliceVar(&o.ops, "ops", nil, "operations to take back (default: all)")
	return cmd
}

func newGrantsCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "grants ID",
		Short:   "List who may do what with an object besides its owner (kmipd)",
		Example: "  kmipctl grants 42\n  kmipctl grants 42 -o json",
		Args:    args(1, 1, "ID"),
		RunE: onObject(func(cmd *cobra.Command, s *session, id string, _ []string) error {
			p, err := s.do(access.OperationListGrants, func(b *ttlv.Builder) { b.AddText(ttlv.TagUniqueIdentifier, id) })
			if err != nil {
				return failed("grants", id, err)
			}
			res := grantsJSON{ID: id, Grants: []grantJSON{}}
			for !p.Empty() {
				it, _ := p.Next()
				if it.Tag != access.TagGrantEntry {
					continue
				}
				g := grantJSON{Operations: []string{}}
				c := it.Children()
				for !c.Empty() {
					f, _ := c.Next()
					switch f.Tag {
					case access.TagGrantee:
						g.Identity = string(f.Data)
					case ttlv.TagOperation:
						g.Operations = append(g.Operations, access.OpName(kmip.Operation(f.Uint32())))
					case access.TagFollowReKey:
						g.FollowReKey = f.Bool()
					}
				}
				res.Grants = append(res.Grants, g)
			}
			return emit(cmd, s.opts.json, res, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "IDENTITY\tOPERATIONS\tFOLLOW-REKEY")
				for _, g := range res.Grants {
					fmt.Fprintf(tw, "%s\t%s\t%v\n", g.Identity, strings.Join(g.Operations, ","), g.FollowReKey)
				}
				tw.Flush()
			})
		}),
	}
}

// parseGrantOps reads --ops.
func parseGrantOps(names []string) ([]kmip.Operation, error) {
	var ops []kmip.Operation
	for _, n := range names {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		op, err := access.ParseOp(n)
		if err != nil {
			return nil, usageErrorf("--ops: %v", err)
		}
		if !access.Grantable.Has(op) {
			return nil, usageErrorf("--ops: %s cannot be granted (a grant gives operations on one existing object)", n)
		}
		ops = append(ops, op)
	}
	return ops, nil
}

func runGrant(cmd *cobra.Command, a []string, o *grantOptions) error {
	if o.to == "" {
		return usageErrorf("--to IDENTITY is required")
	}
	ops, err := parseGrantOps(o.ops)
	if err != nil {
		return err
	}
	if len(ops) == 0 {
		return usageErrorf("--ops is required: the operations to grant")
	}
	return changeGrant(cmd, a, "grant", access.OperationGrant, o.to, ops, o.followReKey)
}

func runUngrant(cmd *cobra.Command, a []string, o *grantOptions) error {
	if o.from == "" {
		return usageErrorf("--from IDENTITY is required")
	}
	ops, err := parseGrantOps(o.ops)
	if err != nil {
		return err
	}
	return changeGrant(cmd, a, "ungrant", access.OperationRevokeGrant, o.from, ops, false)
}

func changeGrant(cmd *cobra.Command, a []string, name string, op kmip.Operation, who string, ops []kmip.Operation, follow bool) error {
	return onObject(func(cmd *cobra.Command, s *session, id string, _ []string) error {
		if _, err := s.do(op, func(b *ttlv.Builder) {
			b.AddText(ttlv.TagUniqueIdentifier, id)
			b.AddText(access.TagGrantee, who)
			for _, x := range ops {
				b.AddEnum(ttlv.TagOperation, uint32(x))
			}
			if follow {
				b.AddBool(access.TagFollowReKey, true)
			}
		}); err != nil {
			return failed(name, id, err)
		}
		res := grantChangeJSON{ID: id, Operation: name, Identity: who}
		for _, x := range ops {
			res.Operations = append(res.Operations, access.OpName(x))
		}
		return emit(cmd, s.opts.json, res, func(w io.Writer) {
			kv(w, "id", res.ID, "operation", res.Operation, "identity", res.Identity, "operations", strings.Join(res.Operations, ","))
		})
	})(cmd, a)
}
