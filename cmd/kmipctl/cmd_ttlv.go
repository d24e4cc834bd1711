package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/kmipd/kmipd/ttlv"
)

func newTTLVCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ttlv",
		Short: "Convert KMIP messages between TTLV (hex, binary), XML, JSON and a readable tree",
		Long: `Convert KMIP messages (or any TTLV items) between encodings:

  hex   TTLV as hex digits (blanks, newlines, colons and 0x are ignored)
  bin   binary TTLV
  xml   the KMIP XML encoding (KMIP Profiles 2.1 §5.4); several messages may
        follow each other or sit in a <KMIP> element, as in the OASIS
        test cases
  json  the KMIP JSON encoding (KMIP Profiles 2.1 §5.5); several items are
        written, and read, as a JSON array
  tree  a readable indented tree (output only)

--in auto (default) tells the input encoding by its first byte. The input is
FILE, or standard input when FILE is absent or "-". "decode" writes a tree
by default, "encode" hex. --output does not apply.`,
	}
	cmd.AddCommand(newTTLVConvertCmd("decode", "tree"), newTTLVConvertCmd("encode", "hex"))
	return cmd
}

// ttlvConvertOptions are the flags of ttlv decode and ttlv encode.
type ttlvConvertOptions struct {
	in, out string
}

func newTTLVConvertCmd(name, defOut string) *cobra.Command {
	var o ttlvConvertOptions
	short := map[string]string{
		"decode": "Show TTLV (hex, binary) as a tree, XML or JSON",
		"encode": "Encode XML, JSON (or TTLV) as hex or binary TTLV",
	}
	cmd := &cobra.Command{
		Use:   name + " [FILE]",
		Short: short[name],
		Example: map[string]string{
			"decode": `  echo 420069010000002042006a0200000004000000020000000042006b02000000040000000100000000 | kmipctl ttlv decode
  kmipctl ttlv decode --in bin --out xml request.bin
  kmipctl ttlv decode --in hex --out json < msg.hex`,
			"encode": `  kmipctl ttlv encode request.xml
  kmipctl ttlv encode --in json --out bin request.json > request.bin`,
		}[name],
		Args: args(0, 1, "[FILE]"),
		RunE: func(cmd *cobra.Command, a []string) error {
			return runTTLVConvert(cmd, &o, a)
		},
	}
	cmd.Flags().StringVar(&o.in, "in", "auto", "input encoding: auto, hex, bin, xml or json")
	cmd.Flags().StringVar(&o.out, "out", defOut, "output encoding: tree, hex, bin, xml or json")
	return cmd
}

func runTTLVConvert(cmd *cobra.Command, o *ttlvConvertOptions, a []string) error {
	name := "-"
	if len(a) > 0 {
		name = a[0]
	}
	data, err := readInput(name, cmd.InOrStdin())
	if err != nil {
		return err
	}
	items, err := readTTLV(data, o.in)
	if err != nil {
		return err
	}
	return writeTTLV(cmd.OutOrStdout(), items, o.out)
}

// readTTLV converts input in encoding (or auto) to a sequence of TTLV
// items. Binary input that is not valid TTLV is returned with the error,
// so that a tree can still show what is there.
func readTTLV(data []byte, encoding string) ([]byte, error) {
	if encoding == "auto" {
		t := bytes.TrimSpace(data)
		switch {
		case len(t) == 0:
			return nil, usageErrorf("empty input")
		case t[0] == '<':
			encoding = "xml"
		case t[0] == '{' || t[0] == '[':
			encoding = "json"
		case isHexText(t):
			encoding = "hex"
		default:
			encoding = "bin"
		}
	}
	switch encoding {
	case "bin":
	case "hex":
		v, err := parseHex(string(data))
		if err != nil {
			return nil, usageErrorf("%v", err)
		}
		data = v
	case "xml":
		d := ttlv.NewXMLDecoder(bytes.NewReader(data), nil)
		var all []byte
		for {
			msg, err := d.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, err
			}
			all = append(all, msg...)
		}
		if all == nil {
			return nil, errors.New("xml: no message")
		}
		return all, nil
	case "json":
		return readJSONItems(data)
	default:
		return nil, usageErrorf("invalid --in %q: want auto, hex, bin, xml or json", encoding)
	}
	if len(data) == 0 {
		return nil, usageErrorf("empty input")
	}
	return data, nil
}

// readJSONItems reads one item or an array of items in the KMIP JSON
// encoding.
func readJSONItems(data []byte) ([]byte, error) {
	t := bytes.TrimSpace(data)
	if len(t) == 0 || t[0] != '[' {
		return ttlv.ParseJSON(t, nil)
	}
	var list []json.RawMessage
	if err := json.Unmarshal(t, &list); err != nil {
		return nil, fmt.Errorf("json: %v", err)
	}
	var all []byte
	for i, raw := range list {
		msg, err := ttlv.ParseJSON(raw, nil)
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
		all = append(all, msg...)
	}
	return all, nil
}

// splitItems returns the top-level items of a checked sequence.
func splitItems(seq []byte) [][]byte {
	var out [][]byte
	v := ttlv.Value(seq)
	for !v.Empty() {
		it, ok := v.Next()
		if !ok {
			break
		}
		out = append(out, it.Raw)
	}
	return out
}

// writeTTLV writes a sequence of items in encoding.
func writeTTLV(w io.Writer, seq []byte, encoding string) error {
	checkErr := ttlv.CheckSeq(seq, 0)
	switch encoding {
	case "tree":
		if _, err := io.WriteString(w, ttlv.Format(seq)); err != nil {
			return err
		}
		if checkErr != nil {
			return fmt.Errorf("input is not valid TTLV: %w", checkErr)
		}
		return nil
	case "hex", "bin", "xml", "json":
	default:
		return usageErrorf("invalid --out %q: want tree, hex, bin, xml or json", encoding)
	}
	if checkErr != nil {
		return fmt.Errorf("input is not valid TTLV: %w", checkErr)
	}
	var out []byte
	items := splitItems(seq)
	switch encoding {
	case "bin":
		out = seq
	case "hex":
		for _, it := range items {
			out = hex.AppendEncode(out, it)
			out = append(out, '\n')
		}
	case "xml":
		for _, it := range items {
			var err error
			if out, err = ttlv.AppendXML(out, it, true); err != nil {
				return err
			}
			out = append(out, '\n')
		}
	case "json":
		if len(items) > 1 {
			out = append(out, "[\n"...)
		}
		for i, it := range items {
			if i > 0 {
				out = append(out, ",\n"...)
			}
			var err error
			if out, err = ttlv.AppendJSON(out, it, true); err != nil {
				return err
			}
			out = bytes.TrimRight(out, "\n")
		}
		if len(items) > 1 {
			out = append(out, "\n]"...)
		}
		out = append(out, '\n')
	}
	_, err := w.Write(out)
	return err
}
