package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// getAttributes sends Get Attributes for id, for the attributes refs names
// (all when empty).
func getAttributes(s *session, id string, refs []attribute) ([]attribute, error) {
	var werr error
	p, err := s.do(kmip.OperationGetAttributes, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, id)
		for _, r := range refs {
			if e := r.writeRef(b, s.v2()); e != nil && werr == nil {
				werr = e
			}
		}
	})
	if werr != nil {
		return nil, werr
	}
	if err != nil {
		return nil, err
	}
	var uid []byte
	p.ReadText(ttlv.TagUniqueIdentifier, &uid)
	if s.v2() {
		var as ttlv.Value
		if !p.ReadStructure(ttlv.TagAttributes, &as) {
			return nil, fmt.Errorf("response lacks Attributes")
		}
		return readAttrs2(as)
	}
	var out []attribute
	for !p.Empty() {
		var a ttlv.Value
		if !p.ReadStructure(ttlv.TagAttribute, &a) {
			return nil, fmt.Errorf("unexpected %s in response", p.PeekTag())
		}
		at, err := readAttr1(a)
		if err != nil {
			return nil, err
		}
		out = append(out, at)
	}
	return out, nil
}

// attrsJSON is the output of attrs get.
type attrsJSON struct {
	ID         string     `json:"id"`
	Attributes []attrJSON `json:"attributes"`
}

// attrChangeJSON is the output of attrs add, set, modify and delete.
type attrChangeJSON struct {
	ID        string `json:"id"`
	Operation string `json:"operation"`
	Attribute string `json:"attribute"`
}

func newAttrsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "attrs",
		Short: "Show and change an object's attributes",
		Long: `Show and change an object's attributes.

Attribute names: the tag name (CryptographicLength), the specification name
("Cryptographic Length"), either in any case without blanks or dashes
(cryptographic-length), a short alias (alg, length, usage, group, contact),
x-NAME for custom attributes, VENDOR:NAME for other vendor attributes.
Values: see "kmipctl help output".`,
	}
	cmd.AddCommand(newAttrsGetCmd(), newAttrsChangeCmd("add"), newAttrsChangeCmd("set"),
		newAttrsChangeCmd("modify"), newAttrsDeleteCmd())
	return cmd
}

func newAttrsGetCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "get ID [NAME...]",
		Short: "Show attributes (KMIP Get Attributes)",
		Example: `  kmipctl attrs get 7d0e...
  kmipctl attrs get 7d0e... State Name x-owner
  kmipctl attrs get 7d0e... state -o json | jq -r '.attributes[0].value'`,
		Args: args(1, -1, "ID [NAME...]"),
		RunE: onObject(func(cmd *cobra.Command, s *session, id string, a []string) error {
			return runAttrsGet(cmd, s, id, a)
		}),
	}
}

func runAttrsGet(cmd *cobra.Command, s *session, id string, a []string) error {
	var refs []attribute
	for _, n := range a[1:] {
		r, err := lookupAttr(n)
		if err != nil {
			return err
		}
		refs = append(refs, r)
	}
	attrs, err := getAttributes(s, id, refs)
	if err != nil {
		return failed("attrs get", id, err)
	}
	res := attrsJSON{ID: id, Attributes: make([]attrJSON, 0, len(attrs))}
	for _, at := range attrs {
		res.Attributes = append(res.Attributes, at.json())
	}
	return emit(cmd, s.opts.json, res, func(w io.Writer) {
		fmt.Fprintln(w, "ATTRIBUTE\tVALUE")
		for _, at := range attrs {
			name := at.label()
			if at.Index > 0 {
				name = fmt.Sprintf("%s[%d]", name, at.Index)
			}
			fmt.Fprintf(w, "%s\t%s\n", name, itemText(at.item()))
		}
	})
}

// attrsChangeOptions are the verb (add, set or modify), its operation and
// the flags of attrs add, set and modify.
type attrsChangeOptions struct {
	verb    string
	op      kmip.Operation
	current string
	index   int32
}

// newAttrsChangeCmd builds attrs add, set and modify.
func newAttrsChangeCmd(verb string) *cobra.Command {
	ops := map[string]kmip.Operation{"add": kmip.OperationAddAttribute, "set": kmip.OperationSetAttribute, "modify": kmip.OperationModifyAttribute}
	shorts := map[string]string{
		"add":    "Add an attribute instance (KMIP Add Attribute)",
		"set":    "Set a single-valued attribute (KMIP 2.x Set Attribute)",
		"modify": "Change an attribute's value (KMIP Modify Attribute)",
	}
	o := attrsChangeOptions{verb: verb, op: ops[verb]}
	cmd := &cobra.Command{
		Use:   verb + " ID NAME VALUE",
		Short: shorts[verb],
		Example: fmt.Sprintf(`  kmipctl attrs %s 7d0e... ContactInformation "ops@example.com"
  kmipctl attrs %s 7d0e... x-owner payments`, verb, verb),
		Args: args(3, 3, "ID NAME VALUE"),
		RunE: onObject(func(cmd *cobra.Command, s *session, id string, a []string) error {
			return runAttrsChange(cmd, &o, s, id, a)
		}),
	}
	if verb == "modify" {
		cmd.Flags().StringVar(&o.current, "current", "", "the instance's current value (KMIP 2.x Current Attribute) for multi-valued attributes")
		cmd.Flags().Int32Var(&o.index, "index", 0, "the instance's Attribute Index (KMIP 1.x)")
	}
	return cmd
}

func runAttrsChange(cmd *cobra.Command, o *attrsChangeOptions, s *session, id string, a []string) error {
	at, err := parseAttr(a[1], a[2])
	if err != nil {
		return err
	}
	if o.op == kmip.OperationSetAttribute && !s.v2() {
		return usageErrorf("Set Attribute is KMIP 2.0 and later: use attrs add or attrs modify with --version %s", s.opts.version)
	}
	var cur *attribute
	if o.current != "" {
		c, err := parseAttr(a[1], o.current)
		if err != nil {
			return err
		}
		cur = &c
	}
	var werr error
	_, err = s.do(o.op, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, id)
		if !s.v2() {
			werr = at.write1(b, o.index)
			return
		}
		if cur != nil {
			b.Begin(ttlv.TagCurrentAttribute)
			cur.write2(b)
			b.End()
		}
		b.Begin(ttlv.TagNewAttribute)
		at.write2(b)
		b.End()
	})
	if werr != nil {
		return werr
	}
	if err != nil {
		return failed("attrs "+o.verb, id, err)
	}
	res := attrChangeJSON{ID: id, Operation: o.op.String(), Attribute: at.label()}
	return emit(cmd, s.opts.json, res, func(w io.Writer) {
		kv(w, "id", res.ID, "operation", res.Operation, "attribute", res.Attribute)
	})
}

// attrsDeleteOptions are the flags of attrs delete.
type attrsDeleteOptions struct {
	current string
	index   int32
}

func newAttrsDeleteCmd() *cobra.Command {
	var o attrsDeleteOptions
	cmd := &cobra.Command{
		Use:   "delete ID NAME",
		Short: "Delete an attribute (KMIP Delete Attribute)",
		Example: `  kmipctl attrs delete 7d0e... ContactInformation
  kmipctl attrs delete 7d0e... Name --current old-name`,
		Args: args(2, 2, "ID NAME"),
		RunE: onObject(func(cmd *cobra.Command, s *session, id string, a []string) error {
			return runAttrsDelete(cmd, &o, s, id, a)
		}),
	}
	cmd.Flags().StringVar(&o.current, "current", "", "delete only the instance with this value (KMIP 2.x Current Attribute)")
	cmd.Flags().Int32Var(&o.index, "index", 0, "the instance's Attribute Index (KMIP 1.x)")
	return cmd
}

func runAttrsDelete(cmd *cobra.Command, o *attrsDeleteOptions, s *session, id string, a []string) error {
	ref, err := lookupAttr(a[1])
	if err != nil {
		return err
	}
	var cur *attribute
	if o.current != "" {
		c, err := parseAttr(a[1], o.current)
		if err != nil {
			return err
		}
		cur = &c
	}
	var werr error
	_, err = s.do(kmip.OperationDeleteAttribute, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, id)
		if !s.v2() {
			werr = ref.writeRef(b, false)
			if o.index > 0 {
				b.AddInt32(ttlv.TagAttributeIndex, o.index)
			}
			return
		}
		if cur != nil {
			b.Begin(ttlv.TagCurrentAttribute)
			cur.write2(b)
			b.End()
			return
		}
		werr = ref.writeRef(b, true)
	})
	if werr != nil {
		return werr
	}
	if err != nil {
		return failed("attrs delete", id, err)
	}
	res := attrChangeJSON{ID: id, Operation: kmip.OperationDeleteAttribute.String(), Attribute: ref.label()}
	return emit(cmd, s.opts.json, res, func(w io.Writer) {
		kv(w, "id", res.ID, "operation", res.Operation, "attribute", res.Attribute)
	})
}
