package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// locateJSON is the output of locate.
type locateJSON struct {
	IDs []string `json:"ids"`
	// Count is len(IDs); LocatedItems is the server's count of all matches
	// (KMIP 1.3 and later), which --max and --offset do not limit.
	Count        int    `json:"count"`
	LocatedItems *int32 `json:"located_items,omitempty"`
}

// locateOptions are the flags of locate.
type locateOptions struct {
	name, typ, state, alg, group string
	length, max, offset          int32
	extra                        []string
	destroyed                    bool
}

func newLocateCmd() *cobra.Command {
	var o locateOptions
	cmd := &cobra.Command{
		Use:   "locate",
		Short: "Find objects by attributes (KMIP Locate)",
		Long: `Find objects whose attributes match every filter (KMIP Locate), newest first
with kmipd. Table output is one identifier a line.`,
		Example: `  kmipctl locate --name backup-2025
  kmipctl locate --type symmetric --state active --algorithm AES --length 256
  kmipctl locate --group payments --max 10 --offset 20
  kmipctl locate --attr x-team=payments -o json | jq -r '.ids[]'`,
		Args: args(0, 0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runLocate(cmd, &o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.name, "name", "", "Name")
	f.StringVar(&o.typ, "type", "", "Object Type: symmetric, secret, opaque, private, public, certificate")
	f.StringVar(&o.state, "state", "", "State: pre-active, active, deactivated, compromised, destroyed, destroyed-compromised")
	f.StringVar(&o.alg, "algorithm", "", "Cryptographic Algorithm (alias --alg)")
	f.Int32Var(&o.length, "length", 0, "Cryptographic Length")
	f.StringVar(&o.group, "group", "", "Object Group")
	f.Int32Var(&o.max, "max", 0, "Maximum Items (0: no limit)")
	f.Int32Var(&o.offset, "offset", 0, "Offset Items: skip this many matches")
	f.BoolVar(&o.destroyed, "destroyed", false, "include destroyed objects (Storage Status Mask)")
	f.StringArrayVar(&o.extra, "attr", nil, "other attribute filter NAME=VALUE (repeatable)")
	return cmd
}

func runLocate(cmd *cobra.Command, o *locateOptions) error {
	s, err := newSession(cmd)
	if err != nil {
		return err
	}
	defer s.close()
	var attrs []attribute
	add := func(n, v string) error {
		if v == "" {
			return nil
		}
		a, err := parseAttr(n, v)
		if err == nil {
			attrs = append(attrs, a)
		}
		return err
	}
	for _, f := range []struct{ n, v string }{
		{"ObjectType", o.typ}, {"State", o.state}, {"CryptographicAlgorithm", o.alg},
		{"Name", o.name}, {"ObjectGroup", o.group},
	} {
		if err := add(f.n, f.v); err != nil {
			return err
		}
	}
	if o.length > 0 {
		if err := add("CryptographicLength", fmt.Sprint(o.length)); err != nil {
			return err
		}
	}
	for _, e := range o.extra {
		a, err := parseAttrArg(e)
		if err != nil {
			return err
		}
		attrs = append(attrs, a)
	}
	if o.max < 0 || o.offset < 0 {
		return usageErrorf("--max and --offset must not be negative")
	}
	var werr error
	p, err := s.do(kmip.OperationLocate, func(b *ttlv.Builder) {
		if o.max > 0 {
			b.AddInt32(ttlv.TagMaximumItems, o.max)
		}
		if o.offset > 0 {
			b.AddInt32(ttlv.TagOffsetItems, o.offset)
		}
		if o.destroyed {
			b.AddInt32(ttlv.TagStorageStatusMask, int32(kmip.StorageStatusMaskOnLineStorage|kmip.StorageStatusMaskDestroyedStorage))
		}
		if len(attrs) > 0 || s.v2() {
			werr = writeAttrs(b, s.v2(), ttlv.TagAttributes, 0, attrs)
		}
	})
	if werr != nil {
		return werr
	}
	if err != nil {
		return failed("locate", "", err)
	}
	res := locateJSON{IDs: []string{}}
	for !p.Empty() {
		it, _ := p.Next()
		switch it.Tag {
		case ttlv.TagLocatedItems:
			n := it.Int32()
			res.LocatedItems = &n
		case ttlv.TagUniqueIdentifier:
			res.IDs = append(res.IDs, string(it.Data))
		}
	}
	res.Count = len(res.IDs)
	return emit(cmd, s.opts.json, res, func(w io.Writer) {
		for _, id := range res.IDs {
			fmt.Fprintln(w, id)
		}
	})
}

// stateJSON is the output of activate, revoke and destroy.
type stateJSON struct {
	ID        string `json:"id"`
	Operation string `json:"operation"`
}

// newTransitionCmd builds a command that sends op with the object's
// identifier and payload's extra fields.
func newTransitionCmd(use, short string, op kmip.Operation, extra func(b *ttlv.Builder)) *cobra.Command {
	return &cobra.Command{
		Use:   use + " ID",
		Short: short,
		Args:  args(1, 1, "ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			return runTransition(cmd, a, use, op, extra)
		},
	}
}

// runTransition runs activate, destroy and revoke: op on the object a[0]
// names, with extra's fields after its identifier.
func runTransition(cmd *cobra.Command, a []string, name string, op kmip.Operation, extra func(b *ttlv.Builder)) error {
	return onObject(func(cmd *cobra.Command, s *session, id string, _ []string) error {
		if _, err := s.do(op, func(b *ttlv.Builder) {
			b.AddText(ttlv.TagUniqueIdentifier, id)
			if extra != nil {
				extra(b)
			}
		}); err != nil {
			return failed(name, id, err)
		}
		res := stateJSON{ID: id, Operation: op.String()}
		return emit(cmd, s.opts.json, res, func(w io.Writer) {
			kv(w, "id", res.ID, "operation", res.Operation)
		})
	})(cmd, a)
}

func newActivateCmd() *cobra.Command {
	return newTransitionCmd("activate", "Activate an object (KMIP Activate): Pre-Active → Active", kmip.OperationActivate, nil)
}

func newDestroyCmd() *cobra.Command {
	return newTransitionCmd("destroy", "Destroy an object's key material (KMIP Destroy); revoke an active key first", kmip.OperationDestroy, nil)
}

// revokeOptions are the flags of revoke.
type revokeOptions struct {
	reason, message, when string
}

func newRevokeCmd() *cobra.Command {
	var o revokeOptions
	cmd := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an object (KMIP Revoke): Active → Deactivated, or Compromised",
		Long: `Revoke an object (KMIP Revoke).

--reason unspecified|compromise|ca-compromise|affiliation-changed|superseded|
cessation|privilege-withdrawn (compromise and ca-compromise make the object
Compromised, the others Deactivated). --compromise-date is when the
compromise happened (RFC 3339, Unix seconds, now-24h, ...).`,
		Example: `  kmipctl revoke 7d0e... --reason superseded --message "rotated 2025-06"
  kmipctl revoke 7d0e... --reason compromise --compromise-date now-48h`,
		Args: args(1, 1, "ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			return runRevoke(cmd, &o, a)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.reason, "reason", "unspecified", "Revocation Reason Code")
	f.StringVar(&o.message, "message", "", "Revocation Message")
	f.StringVar(&o.when, "compromise-date", "", "Compromise Occurrence Date (with --reason compromise)")
	return cmd
}

func runRevoke(cmd *cobra.Command, o *revokeOptions, a []string) error {
	code, err := parseEnum(ttlv.TagRevocationReasonCode, o.reason)
	if err != nil {
		return err
	}
	var occurred time.Time
	if o.when != "" {
		if occurred, err = parseTime(o.when); err != nil {
			return usageErrorf("--compromise-date: %v", err)
		}
	}
	return runTransition(cmd, a, "revoke", kmip.OperationRevoke, func(b *ttlv.Builder) {
		b.Begin(ttlv.TagRevocationReason)
		b.AddEnum(ttlv.TagRevocationReasonCode, code)
		if o.message != "" {
			b.AddText(ttlv.TagRevocationMessage, o.message)
		}
		b.End()
		if !occurred.IsZero() {
			b.AddDateTime(ttlv.TagCompromiseOccurrenceDate, occurred.Unix())
		}
	})
}

// rekeyJSON is the output of rekey.
type rekeyJSON struct {
	ID         string `json:"id"`
	ReplacedID string `json:"replaced_id"`
}

// rekeyOptions are the flags of rekey.
type rekeyOptions struct {
	offset time.Duration
	extra  []string
}

func newRekeyCmd() *cobra.Command {
	var o rekeyOptions
	cmd := &cobra.Command{
		Use:   "rekey ID",
		Short: "Replace a symmetric key with a new one (KMIP Re-key)",
		Long: `Replace a symmetric key with a new one (KMIP Re-key). The replacement gets the
key's attributes and names, and is linked to it; --offset sets its
Activation Date that far after now; --attr sets more attributes on it.`,
		Example: `  kmipctl rekey 7d0e...
  kmipctl rekey 7d0e... --offset 24h -o json | jq -r .id`,
		Args: args(1, 1, "ID"),
		RunE: onObject(func(cmd *cobra.Command, s *session, id string, a []string) error {
			return runRekey(cmd, &o, s, id)
		}),
	}
	cmd.Flags().DurationVar(&o.offset, "offset", 0, "Offset: the replacement's Activation Date is now plus this")
	cmd.Flags().StringArrayVar(&o.extra, "attr", nil, "attribute NAME=VALUE for the replacement (repeatable)")
	return cmd
}

func runRekey(cmd *cobra.Command, o *rekeyOptions, s *session, id string) error {
	if o.offset < 0 {
		return usageErrorf("--offset must not be negative")
	}
	var attrs []attribute
	for _, e := range o.extra {
		at, err := parseAttrArg(e)
		if err != nil {
			return err
		}
		attrs = append(attrs, at)
	}
	var werr error
	p, err := s.do(kmip.OperationReKey, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, id)
		if o.offset > 0 {
			b.AddInterval(ttlv.TagOffset, uint32(o.offset/time.Second))
		}
		if len(attrs) > 0 {
			werr = writeAttrs(b, s.v2(), ttlv.TagAttributes, ttlv.TagTemplateAttribute, attrs)
		}
	})
	if werr != nil {
		return werr
	}
	if err != nil {
		return failed("rekey", id, err)
	}
	var nid []byte
	if !p.ReadText(ttlv.TagUniqueIdentifier, &nid) {
		return failed("rekey", id, fmt.Errorf("response lacks Unique Identifier"))
	}
	res := rekeyJSON{ID: string(nid), ReplacedID: id}
	return emit(cmd, s.opts.json, res, func(w io.Writer) {
		kv(w, "id", res.ID, "replaced_id", res.ReplacedID)
	})
}
