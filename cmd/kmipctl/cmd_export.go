package main

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// An export document is the payload of a KMIP Export response (KMIP 2.0
// §6.1.17) as one Response Payload structure: Object Type, Unique
// Identifier, Attributes (2.x form) and the object, in the KMIP JSON
// encoding, the KMIP XML encoding, binary TTLV or hex TTLV. import reads
// any of them.

// exportJSON is the output of export --file and of import.
type exportJSON struct {
	ID         string `json:"id"`
	ObjectType string `json:"object_type"`
	Method     string `json:"method"`
	File       string `json:"file,omitempty"`
	Bytes      int    `json:"bytes,omitempty"`
}

// unsupported reports a KMIP Operation Not Supported failure.
func unsupported(err error) bool {
	var ke *kmip.Error
	return errors.As(err, &ke) && ke.Reason == kmip.ResultReasonOperationNotSupported
}

// exportDoc returns the export document of id in TTLV, and how it was
// obtained: KMIP Export, or Get and Get Attributes where the server (or
// the protocol version) has no Export.
func exportDoc(s *session, id string, kft kmip.KeyFormatType, wrap func(b *ttlv.Builder)) ([]byte, string, error) {
	if s.opts.version.AtLeast(kmip.V2_0) {
		p, err := s.do(kmip.OperationExport, func(b *ttlv.Builder) {
			b.AddText(ttlv.TagUniqueIdentifier, id)
			if kft != 0 {
				b.AddEnum(ttlv.TagKeyFormatType, uint32(kft))
			}
			if wrap != nil {
				wrap(b)
			}
		})
		if err == nil {
			b := ttlv.NewBuilder(nil)
			b.Begin(ttlv.TagResponsePayload)
			b.AddRaw(p)
			b.End()
			doc, err := b.Bytes()
			return doc, "Export", err
		}
		if !unsupported(err) {
			return nil, "", err
		}
	}
	o, err := getObject(s, id, kft, wrap)
	if err != nil {
		return nil, "", err
	}
	attrs, err := getAttributes(s, id, nil)
	if err != nil {
		return nil, "", err
	}
	b := ttlv.NewBuilder(nil)
	b.Begin(ttlv.TagResponsePayload)
	b.AddEnum(ttlv.TagObjectType, uint32(o.Type))
	b.AddText(ttlv.TagUniqueIdentifier, o.ID)
	writeAttrs(b, true, ttlv.TagAttributes, 0, attrs)
	b.AddRaw(o.Item)
	b.End()
	doc, err := b.Bytes()
	return doc, "Get", err
}

// encodeDoc writes a TTLV item in encoding.
func encodeDoc(doc []byte, encoding string) ([]byte, error) {
	switch encoding {
	case "json":
		return ttlv.AppendJSON(nil, doc, true)
	case "xml":
		return ttlv.AppendXML(nil, doc, true)
	case "ttlv", "bin":
		return doc, nil
	case "hex":
		return []byte(hex.EncodeToString(doc) + "\n"), nil
	}
	return nil, usageErrorf("invalid --encoding %q: want json, xml, ttlv or hex", encoding)
}

// decodeAny reads TTLV in any of the encodings kmipctl writes: KMIP JSON,
// KMIP XML, hex or binary, told apart by their first byte.
func decodeAny(data []byte) ([]byte, error) {
	t := bytes.TrimSpace(data)
	switch {
	case len(t) == 0:
		return nil, fmt.Errorf("empty input")
	case t[0] == '{':
		return ttlv.ParseJSON(t, nil)
	case t[0] == '<':
		return ttlv.ParseXML(t, nil)
	case isHexText(t):
		return parseHex(string(t))
	}
	return data, nil
}

// isHexText reports whether b is hex digits and blanks (a binary TTLV
// message starts with 0x42, which is 'B', and holds non-hex bytes).
func isHexText(b []byte) bool {
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F',
			c == ' ', c == '\n', c == '\r', c == '\t', c == ':', c == 'x':
		default:
			return false
		}
	}
	return true
}

// exportOptions are the flags of export.
type exportOptions struct {
	file, encoding, format string
	wf                     wrapFlags
}

func newExportCmd() *cobra.Command {
	var o exportOptions
	cmd := &cobra.Command{
		Use:   "export ID",
		Short: "Save an object with its attributes to a file (KMIP Export)",
		Long: `Save an object, with its attributes, as an export document: the payload of a
KMIP Export response, in the KMIP JSON encoding (default), the KMIP XML
encoding, binary TTLV or hex. Servers (or --version 1.x) without Export are
asked with Get and Get Attributes instead. Without --file the document goes
to standard output. "kmipctl import" reads it back.

--wrap-key ID exports the key wrapped under the managed key ID, with
--wrap-method encrypt (default) or mac-sign, --wrap-encoding no-encoding
(default) or ttlv, and --wrap-mode for a symmetric wrapping key (--encoding
is the document's encoding).`,
		Example: `  kmipctl export 7d0e... --file key.json
  kmipctl export 7d0e... --wrap-key 41f2... --file key.wrapped.json
  kmipctl export 7d0e... --encoding xml > key.xml`,
		Args: args(1, 1, "ID"),
		RunE: onObject(func(cmd *cobra.Command, s *session, id string, a []string) error {
			return runExport(cmd, &o, s, id)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&o.file, "file", "", "write the document to this file (mode 0600)")
	f.StringVar(&o.encoding, "encoding", "json", "document encoding: json, xml, ttlv or hex")
	f.StringVar(&o.format, "format", "", "Key Format Type to export the key in: raw, pkcs1, pkcs8, x509, ec")
	o.wf.add(f, "wrap-encoding")
	return cmd
}

func runExport(cmd *cobra.Command, o *exportOptions, s *session, id string) error {
	kft, ok := getFormats[o.format]
	if !ok {
		return usageErrorf("invalid --format %q: want raw, pkcs1, pkcs8, x509, ec or opaque", o.format)
	}
	switch o.encoding {
	case "json", "xml", "ttlv", "bin", "hex":
	default:
		return usageErrorf("invalid --encoding %q: want json, xml, ttlv or hex", o.encoding)
	}
	wrap, err := o.wf.spec(cmd.Flags(), "wrap-encoding")
	if err != nil {
		return err
	}
	doc, method, err := exportDoc(s, id, kft, wrap)
	if err != nil {
		return failed("export", id, err)
	}
	data, err := encodeDoc(doc, o.encoding)
	if err != nil {
		return failed("export", id, err)
	}
	if o.file == "" || o.file == "-" {
		_, err := cmd.OutOrStdout().Write(data)
		return err
	}
	if err := os.WriteFile(o.file, data, 0o600); err != nil {
		return err
	}
	var ot uint32
	var body ttlv.Value
	v := ttlv.Value(doc)
	if v.ReadStructure(ttlv.TagResponsePayload, &body) {
		if it, ok := body.Find(ttlv.TagObjectType); ok {
			ot = it.Uint32()
		}
	}
	res := exportJSON{ID: id, ObjectType: kmip.ObjectType(ot).String(), Method: method, File: o.file, Bytes: len(data)}
	return emit(cmd, s.opts.json, res, func(w io.Writer) {
		kv(w, "id", res.ID, "object_type", res.ObjectType, "method", res.Method,
			"file", fmt.Sprintf("%s (%d bytes)", res.File, res.Bytes))
	})
}

// exportedObject is a parsed export document.
type exportedObject struct {
	id    string
	typ   kmip.ObjectType
	attrs []attribute
	item  []byte // the object structure
}

func parseExportDoc(doc []byte) (*exportedObject, error) {
	if err := ttlv.Check(doc, 0); err != nil {
		return nil, err
	}
	top, _ := ttlv.Value(doc).Peek()
	if top.Type != ttlv.TypeStructure {
		return nil, fmt.Errorf("not an export document")
	}
	e := &exportedObject{}
	c := top.Children()
	for !c.Empty() {
		it, _ := c.Next()
		switch {
		case it.Tag == ttlv.TagObjectType:
			e.typ = kmip.ObjectType(it.Uint32())
		case it.Tag == ttlv.TagUniqueIdentifier:
			e.id = string(it.Data)
		case it.Tag == ttlv.TagAttributes:
			a, err := readAttrs2(it.Children())
			if err != nil {
				return nil, err
			}
			e.attrs = a
		case it.Type == ttlv.TypeStructure && e.item == nil:
			e.item = it.Raw
		}
	}
	if e.typ == 0 || e.item == nil {
		return nil, fmt.Errorf("not an export document: no Object Type or object")
	}
	return e, nil
}

// registrable keeps the attributes a client may give Register in version
// ver (those the server sets itself are dropped).
func registrable(attrs []attribute, ver kmip.Version) []attribute {
	var out []attribute
	for _, a := range attrs {
		if a.Tag == 0 {
			if ver.V2() || a.Vendor == "x" || a.Vendor == "y" {
				out = append(out, a)
			}
			continue
		}
		if info, ok := kmip.AttrInfoOf(a.Tag); ok && info.ClientInit && info.InVersion(ver) {
			out = append(out, a)
		}
	}
	return out
}

// importOptions are the flags of import.
type importOptions struct {
	file, name        string
	replace, register bool
}

func newImportCmd() *cobra.Command {
	var o importOptions
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Load an object saved by export (KMIP Import, or Register)",
		Long: `Load an export document (see "kmipctl export") into the server with KMIP
Import, which keeps the Unique Identifier and every attribute (--replace
overwrites an existing object of that identifier). Servers (or versions)
without Import, or --register, get a KMIP Register instead: the object gets
a new identifier and the attributes a client may set. --name replaces the
object's names.`,
		Example: `  kmipctl import --file key.json
  kmipctl import --file key.json --register --name restored-key`,
		Args: args(0, 0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runImport(cmd, &o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.file, "file", "", "export document to read (- for standard input)")
	f.StringVar(&o.name, "name", "", "replace the object's names with this one")
	f.BoolVar(&o.replace, "replace", false, "Import: replace an existing object of the same identifier")
	f.BoolVar(&o.register, "register", false, "use Register even if the server has Import")
	return cmd
}

func runImport(cmd *cobra.Command, o *importOptions) error {
	s, err := newSession(cmd)
	if err != nil {
		return err
	}
	defer s.close()
	if o.file == "" {
		return usageErrorf("import needs --file (- for standard input)")
	}
	data, err := readInput(o.file, cmd.InOrStdin())
	if err != nil {
		return err
	}
	doc, err := decodeAny(data)
	if err != nil {
		return usageErrorf("%s: %v", o.file, err)
	}
	e, err := parseExportDoc(doc)
	if err != nil {
		return usageErrorf("%s: %v", o.file, err)
	}
	if o.name != "" {
		kept := e.attrs[:0:0]
		for _, a := range e.attrs {
			if a.Tag != ttlv.TagName {
				kept = append(kept, a)
			}
		}
		n, _ := parseAttr("Name", o.name)
		e.attrs = append(kept, n)
	}
	res := exportJSON{ObjectType: e.typ.String()}
	var p ttlv.Value
	if s.opts.version.AtLeast(kmip.V2_0) && !o.register {
		res.Method = "Import"
		p, err = s.do(kmip.OperationImport, func(b *ttlv.Builder) {
			b.AddText(ttlv.TagUniqueIdentifier, e.id)
			b.AddEnum(ttlv.TagObjectType, uint32(e.typ))
			if o.replace {
				b.AddBool(ttlv.TagReplaceExisting, true)
			}
			writeAttrs(b, true, ttlv.TagAttributes, 0, e.attrs)
			b.AddRaw(e.item)
		})
		if err != nil && !unsupported(err) {
			return failed("import", e.id, err)
		}
	}
	if p == nil {
		res.Method = "Register"
		var werr error
		p, err = s.do(kmip.OperationRegister, func(b *ttlv.Builder) {
			b.AddEnum(ttlv.TagObjectType, uint32(e.typ))
			werr = writeAttrs(b, s.v2(), ttlv.TagAttributes, ttlv.TagTemplateAttribute, registrable(e.attrs, s.opts.version))
			b.AddRaw(e.item)
		})
		if werr != nil {
			return werr
		}
		if err != nil {
			return failed("import", e.id, err)
		}
	}
	var id []byte
	if !p.ReadText(ttlv.TagUniqueIdentifier, &id) {
		return failed("import", e.id, fmt.Errorf("response lacks Unique Identifier"))
	}
	res.ID = string(id)
	return emit(cmd, s.opts.json, res, func(w io.Writer) {
		kv(w, "id", res.ID, "object_type", res.ObjectType, "method", res.Method)
	})
}
