package main

import "github.com/spf13/cobra"

// newOutputHelpCmd is the "kmipctl help output" topic: the JSON documents
// of --output json, the exit statuses, the config file and attribute
// values. The field names are a stable interface for scripts: fields may be
// added, never renamed or removed.
func newOutputHelpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "output",
		Short: "JSON output, exit statuses, config file and attribute values",
		Long:  outputHelp,
	}
}

const outputHelp = `With --output json (or -o json, KMIPCTL_OUTPUT=json, "output: json" in the
config file) every command prints one JSON document on standard output.
Field names are stable: new fields may appear, none are renamed or removed.
Fields marked ? are left out when empty. Times are in milliseconds.

  create, register, import
      {"id", "object_type", "method"?}       method (import): Import or Register
  create-key-pair
      {"private_key_id", "public_key_id"}
  get
      {"id", "object_type", "key_format"?, "algorithm"?, "length"?,
       "key_hex"?, "key_material"?, "data_type"?, "certificate_type"?,
       "wrapped"?, "file"?, "bytes"?}
      key_hex: the key material (or opaque data, certificate) in hex;
      key_material: structured (transparent) material as an object;
      with --out: file and bytes instead of key_hex/key_material
  attrs get
      {"id", "attributes": [{"name", "type", "value", "index"?}]}
      name: tag name (CryptographicAlgorithm), x-NAME or VENDOR:NAME;
      type: the value's TTLV type; value: as in the KMIP JSON encoding
      (enumerations by name, masks "Encrypt|Decrypt", dates RFC 3339 UTC,
      bytes hex), structures as {"ChildTag": value, ...};
      index: KMIP 1.x Attribute Index when not 0
  attrs add, set, modify, delete
      {"id", "operation", "attribute"}
  activate, revoke, destroy
      {"id", "operation"}
  rekey
      {"id", "replaced_id"}                  id is the new key
  locate
      {"ids": [...], "count", "located_items"?}
  export --file
      {"id", "object_type", "method", "file", "bytes"}   method: Export or Get
  query
      {"operations"?, "object_types"?, "vendor_identification"?,
       "server_information"?, "profiles"?, "capabilities"?, "other"?}
  discover-versions
      {"versions": ["2.1", ...]}
  ping
      {"server", "operation", "tls_version", "connect_ms", "rtt_ms": [...],
       "min_ms", "avg_ms", "max_ms"}
  bench (also --json FILE)
      {"mix", "server", "version", "conns", "duration_s", "ops", "errors",
       "ops_per_sec", "connect_ms", "error"?,
       "operations": {"Get": {"count", "errors", "ops_per_sec", "mean_ms",
         "p50_ms", "p90_ms", "p99_ms", "max_ms", "request_bytes",
         "response_bytes", "first_error"?}, ...}}

A command that fails (once its flags parsed) prints {"error", "reason"?,
"message"?, "exit_code"} on standard output (reason: the KMIP Result Reason, message: the server's
Result Message) and the error on standard error, e.g.

  kmipctl: get 1234: object not found (KMIP ObjectNotFound)

Exit statuses:
  0  success
  1  any other failure
  2  usage: bad flags, arguments, values or config file
  3  connection or TLS: cannot connect, handshake or certificate failure,
     connection lost
  4  the server answered with a KMIP failure
  5  not found: Object Not Found (Item Not Found in KMIP 1.x), Attribute
     Not Found

Config file: ~/.config/kmipctl/config.yaml ($XDG_CONFIG_HOME/kmipctl/...),
or --config FILE, or KMIPCTL_CONFIG. Keys: server, ca, cert, key, version,
output; relative paths are relative to the file. Flags win over environment
variables (KMIPCTL_SERVER, KMIPCTL_CA, KMIPCTL_CERT, KMIPCTL_KEY,
KMIPCTL_VERSION, KMIPCTL_OUTPUT), which win over the file.

Attribute values (--attr NAME=VALUE, attrs add/set/modify):
  enumerations  a name in any case, without separators if you like
                (AES, p-256, pre-active), or a number
  masks         names separated by commas or '|' (encrypt,decrypt)
  integers      decimal or 0x hex; booleans true or false
  byte strings  hex; dates RFC 3339, Unix seconds, now, now+720h
  intervals     seconds or a duration (24h)
  Name          the name; Link TYPE:ID (parent:1234); Application Specific
                Information NAMESPACE:DATA; Cryptographic Domain Parameters
                a curve (P-256)
  x-NAME, VENDOR:NAME  text, or int:, long:, bool:, hex:, date: prefixed
  anything      an item in the KMIP JSON encoding, starting with '{'`
