package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// queryJSON is the output of query.
type queryJSON struct {
	Operations        []string       `json:"operations,omitempty"`
	ObjectTypes       []string       `json:"object_types,omitempty"`
	Vendor            string         `json:"vendor_identification,omitempty"`
	ServerInformation map[string]any `json:"server_information,omitempty"`
	Profiles          []string       `json:"profiles,omitempty"`
	Capabilities      map[string]any `json:"capabilities,omitempty"`
	// Other holds the remaining response items by tag name.
	Other map[string][]any `json:"other,omitempty"`
}

var queryFunctions = map[string]kmip.QueryFunction{
	"operations":         kmip.QueryFunctionQueryOperations,
	"objects":            kmip.QueryFunctionQueryObjects,
	"server-information": kmip.QueryFunctionQueryServerInformation,
	"profiles":           kmip.QueryFunctionQueryProfiles,
	"capabilities":       kmip.QueryFunctionQueryCapabilities,
	"namespaces":         kmip.QueryFunctionQueryApplicationNamespaces,
	"extensions":         kmip.QueryFunctionQueryExtensionList,
	"attestation-types":  kmip.QueryFunctionQueryAttestationTypes,
	"rngs":               kmip.QueryFunctionQueryRNGs,
	"validations":        kmip.QueryFunctionQueryValidations,
	"registration":       kmip.QueryFunctionQueryClientRegistrationMethods,
	"defaults":           kmip.QueryFunctionQueryDefaultsInformation,
	"storage-masks":      kmip.QueryFunctionQueryStorageProtectionMasks,
}

// queryOptions are the flags of query.
type queryOptions struct {
	fns []string
}

func newQueryCmd() *cobra.Command {
	var o queryOptions
	cmd := &cobra.Command{
		Use:   "query",
		Short: "Ask the server what it supports (KMIP Query)",
		Example: `  kmipctl query
  kmipctl query --functions operations -o json | jq -r '.operations[]'`,
		Args: args(0, 0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runQuery(cmd, &o)
		},
	}
	cmd.Flags().StringSliceVar(&o.fns, "functions", []string{"operations", "objects", "server-information", "profiles", "capabilities"},
		"Query Functions: "+strings.Join(sortedKeys(queryFunctions), ", "))
	return cmd
}

func runQuery(cmd *cobra.Command, o *queryOptions) error {
	s, err := newSession(cmd)
	if err != nil {
		return err
	}
	defer s.close()
	var qf []kmip.QueryFunction
	for _, f := range o.fns {
		q, ok := queryFunctions[f]
		if !ok {
			return usageErrorf("invalid --functions item %q (one of %s)", f, strings.Join(sortedKeys(queryFunctions), ", "))
		}
		if s.opts.version.HasEnum(ttlv.TagQueryFunction, uint32(q)) {
			qf = append(qf, q)
		}
	}
	p, err := s.do(kmip.OperationQuery, func(b *ttlv.Builder) {
		for _, q := range qf {
			b.AddEnum(ttlv.TagQueryFunction, uint32(q))
		}
	})
	if err != nil {
		return failed("query", "", err)
	}
	var res queryJSON
	for !p.Empty() {
		it, ok := p.Next()
		if !ok {
			break
		}
		switch it.Tag {
		case ttlv.TagOperation:
			res.Operations = append(res.Operations, kmip.Operation(it.Uint32()).String())
		case ttlv.TagObjectType:
			res.ObjectTypes = append(res.ObjectTypes, kmip.ObjectType(it.Uint32()).String())
		case ttlv.TagVendorIdentification:
			res.Vendor = string(it.Data)
		case ttlv.TagServerInformation:
			res.ServerInformation, _ = itemValue(it.Raw).(map[string]any)
		case ttlv.TagProfileInformation:
			c := it.Children()
			var pn uint32
			if c.ReadEnum(ttlv.TagProfileName, &pn) {
				res.Profiles = append(res.Profiles, kmip.ProfileName(pn).String())
			}
		case ttlv.TagCapabilityInformation:
			res.Capabilities, _ = itemValue(it.Raw).(map[string]any)
		default:
			if res.Other == nil {
				res.Other = map[string][]any{}
			}
			res.Other[it.Tag.String()] = append(res.Other[it.Tag.String()], itemValue(it.Raw))
		}
	}
	return emit(cmd, s.opts.json, res, func(w io.Writer) {
		kv(w, "vendor", res.Vendor)
		for _, k := range sortedKeys(res.ServerInformation) {
			kv(w, "server_information."+k, fmt.Sprint(res.ServerInformation[k]))
		}
		kv(w, "operations", strings.Join(res.Operations, ", "),
			"object_types", strings.Join(res.ObjectTypes, ", "),
			"profiles", strings.Join(res.Profiles, ", "))
		for _, k := range sortedKeys(res.Capabilities) {
			kv(w, "capabilities."+k, fmt.Sprint(res.Capabilities[k]))
		}
		for _, k := range sortedKeys(res.Other) {
			kv(w, k, fmt.Sprint(res.Other[k]...))
		}
	})
}

// discoverVersions sends Discover Versions with versions (none: all the
// server supports) and returns the server's answer.
func discoverVersions(s *session, versions []kmip.Version) ([]kmip.Version, error) {
	p, err := s.do(kmip.OperationDiscoverVersions, func(b *ttlv.Builder) {
		for _, v := range versions {
			b.Begin(ttlv.TagProtocolVersion)
			b.AddInt32(ttlv.TagProtocolVersionMajor, v.Major)
			b.AddInt32(ttlv.TagProtocolVersionMinor, v.Minor)
			b.End()
		}
	})
	if err != nil {
		return nil, err
	}
	var out []kmip.Version
	for !p.Empty() {
		var pv ttlv.Value
		var v kmip.Version
		if !p.ReadStructure(ttlv.TagProtocolVersion, &pv) ||
			!pv.ReadInt32(ttlv.TagProtocolVersionMajor, &v.Major) || !pv.ReadInt32(ttlv.TagProtocolVersionMinor, &v.Minor) {
			return nil, fmt.Errorf("malformed Discover Versions response")
		}
		out = append(out, v)
	}
	return out, nil
}

// versionsJSON is the output of discover-versions.
type versionsJSON struct {
	Versions []string `json:"versions"`
}

func newDiscoverVersionsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "discover-versions [VERSION...]",
		Short: "List the protocol versions the server speaks (KMIP Discover Versions)",
		Long: `List the protocol versions the server speaks, most preferred first (KMIP
Discover Versions). With VERSIONs, the server answers those of them it
speaks.`,
		Example: `  kmipctl discover-versions
  kmipctl discover-versions 1.4 2.1`,
		RunE: func(cmd *cobra.Command, a []string) error {
			return runDiscoverVersions(cmd, a)
		},
	}
}

func runDiscoverVersions(cmd *cobra.Command, a []string) error {
	s, err := newSession(cmd)
	if err != nil {
		return err
	}
	defer s.close()
	var want []kmip.Version
	for _, x := range a {
		var v kmip.Version
		if _, err := fmt.Sscanf(x, "%d.%d", &v.Major, &v.Minor); err != nil || v.String() != x {
			return usageErrorf("invalid version %q: want MAJOR.MINOR", x)
		}
		want = append(want, v)
	}
	vs, err := discoverVersions(s, want)
	if err != nil {
		return failed("discover-versions", "", err)
	}
	res := versionsJSON{Versions: []string{}}
	for _, v := range vs {
		res.Versions = append(res.Versions, v.String())
	}
	return emit(cmd, s.opts.json, res, func(w io.Writer) {
		for _, v := range res.Versions {
			fmt.Fprintln(w, v)
		}
	})
}

// pingJSON is the output of ping. Times are in milliseconds.
type pingJSON struct {
	Server     string    `json:"server"`
	Operation  string    `json:"operation"`
	TLSVersion string    `json:"tls_version"`
	ConnectMS  float64   `json:"connect_ms"`
	RTTMS      []float64 `json:"rtt_ms"`
	MinMS      float64   `json:"min_ms"`
	AvgMS      float64   `json:"avg_ms"`
	MaxMS      float64   `json:"max_ms"`
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// pingOptions are the flags of ping.
type pingOptions struct {
	count    int
	interval time.Duration
	opName   string
}

func newPingCmd() *cobra.Command {
	var opt pingOptions
	cmd := &cobra.Command{
		Use:   "ping",
		Short: "Measure the connection set-up and KMIP round-trip times",
		Long: `Connect (TCP and the mutual-TLS handshake), then send --count Discover
Versions (or Query) requests --interval apart and report each round trip.`,
		Example: `  kmipctl ping
  kmipctl ping --count 10 --interval 200ms --op query`,
		Args: args(0, 0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPing(cmd, &opt)
		},
	}
	f := cmd.Flags()
	f.IntVarP(&opt.count, "count", "c", 1, "round trips to make")
	f.DurationVar(&opt.interval, "interval", time.Second, "pause between round trips")
	f.StringVar(&opt.opName, "op", "discover-versions", "operation: discover-versions or query")
	return cmd
}

func runPing(cmd *cobra.Command, opt *pingOptions) error {
	o, err := parseOptions(cmd)
	if err != nil {
		return err
	}
	conn, err := connFromFlags(cmd)
	if err != nil {
		return err
	}
	if opt.count < 1 || opt.count > 100000 {
		return usageErrorf("--count must be between 1 and 100000")
	}
	if opt.interval < 0 {
		return usageErrorf("--interval must not be negative")
	}
	var op kmip.Operation
	var payload func(b *ttlv.Builder)
	switch opt.opName {
	case "discover-versions":
		op = kmip.OperationDiscoverVersions
	case "query":
		op = kmip.OperationQuery
		payload = func(b *ttlv.Builder) {
			b.AddEnum(ttlv.TagQueryFunction, uint32(kmip.QueryFunctionQueryServerInformation))
		}
	default:
		return usageErrorf("invalid --op %q: want discover-versions or query", opt.opName)
	}
	cfg, err := conn.tlsConfig()
	if err != nil {
		return failed("ping", "", connError{err})
	}
	start := time.Now()
	c, used, err := dialTimed(conn.Server, 0, cfg, o.version, o.timeout)
	if err != nil {
		return failed("ping", "", err)
	}
	defer c.Close()
	res := pingJSON{
		Server: used, Operation: op.String(), ConnectMS: ms(time.Since(start)),
		TLSVersion: tls.VersionName(c.ConnectionState().Version), RTTMS: []float64{},
	}
	out := cmd.OutOrStdout()
	var sum time.Duration
	for i := range opt.count {
		if i > 0 && opt.interval > 0 {
			time.Sleep(opt.interval)
		}
		t0 := time.Now()
		if _, err := call(c, op, payload); err != nil {
			return failed("ping", "", err)
		}
		d := time.Since(t0)
		sum += d
		res.RTTMS = append(res.RTTMS, ms(d))
		if i == 0 || ms(d) < res.MinMS {
			res.MinMS = ms(d)
		}
		res.MaxMS = max(res.MaxMS, ms(d))
		if !o.json {
			fmt.Fprintf(out, "%s: %s %d: %.3f ms\n", res.Server, res.Operation, i+1, ms(d))
		}
	}
	res.AvgMS = ms(sum / time.Duration(opt.count))
	if o.json {
		return writeJSON(out, res)
	}
	fmt.Fprintf(out, "%s: connect+handshake %.3f ms (%s), %d round trips min/avg/max %.3f/%.3f/%.3f ms\n",
		res.Server, res.ConnectMS, res.TLSVersion, opt.count, res.MinMS, res.AvgMS, res.MaxMS)
	return nil
}
