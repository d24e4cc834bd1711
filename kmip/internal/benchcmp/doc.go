// Package benchcmp compares kmipd's message layer (package kmip) with two
// other Go KMIP implementations, github.com/gemalto/kmip-go and
// github.com/ovh/kmip-go, on the same message bytes:
//
//	go test -run '^$' -bench . -benchmem ./kmip/internal/benchcmp/
//
// prints, for each of decoding a Get request, decoding a Create request and
// encoding a Get response, one sub-benchmark per library (…/kmipd,
// …/gemalto, …/ovh), so the ratios come from one run on one machine.
//
// The package itself holds only what kmipd's side runs: the request and
// response fixtures, written out by hand in hex, and the three code paths
// (DecodeGet, DecodeCreate, EncodeGetResponse). kmip/bench_test.go and
// kmip/allocs_test.go run the very same functions, so the numbers printed
// here are the numbers those benchmarks and zero-allocation tests guard.
// The other libraries are imported only by the tests of this package, so
// nothing outside tests depends on them.
//
// The tests of this package also cross-check the decoders: every fixture
// is decoded by kmipd and by the other libraries and the fields (unique
// identifier, object type, algorithm, length, usage mask, name, key bytes)
// must agree, the request fixtures must equal what gemalto's XML→TTLV
// converter makes of the OASIS test-case XML they were taken from, and the
// three encoders must produce identical Get responses.
package benchcmp
