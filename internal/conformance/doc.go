// Package conformance replays the OASIS KMIP test cases (the XML files of
// KMIP Profiles 1.4 and 2.1 and of the KMIP Test Cases documents) against a
// server and compares every response with the one the file expects.
//
// # Running
//
// Load reads a file into request/response pairs (Steps) of generic trees
// (Node) that keep every value as written, so placeholders survive. A
// Runner replays a file over a Transport: TTLV over mutual TLS
// (TTLVTransport, KMIP Profiles 2.1 §3.1) or HTTPS with TTLV, JSON or XML
// bodies (HTTPSTransport, §5.3–§5.5; FileEncoding picks it for the
// MSGENC-HTTPS, MSGENC-JSON and MSGENC-XML files). For each file it
//
//  1. sends Interop with function Reset (KMIP 2.0 §6.1.25) so that the file
//     starts from an empty server, unless Reset is off (servers without
//     Interop) or the file continues the one run just before it (SASED-M-3
//     uses the objects of SASED-M-2, TL-M-3 those of TL-M-2, TC-CREG-2
//     those TC-CREG-1 registers and TC-CREG-3 destroys them; see
//     Continuation). KMIP 1.x has no Interop operation: for a 1.x file the
//     Reset goes in a 2.0 request on the same connection, which a server
//     that answers each message in its own version (as kmipd does) accepts;
//  2. pairs each expected response with the request of its operations: a
//     file may list several requests before their responses, and where the
//     two runs disagree on the order (TC-DERIVEKEY-4-10 lists Destroy,
//     Revoke and then the responses Revoke, Destroy; its -11 to -14 twins
//     send Revoke first), the requests are sent in the order of the
//     responses, the order a server answers in (see pairByOperation);
//  3. sends each request in order, placeholders substituted, with the
//     protocol version replaced when VersionOverride is set (also in the
//     expected responses: the 2.0 profile files differ from the 2.1 ones
//     only in the version, names and one error code, so replaying the 2.1
//     files as 2.0 checks 2.0 behaviour);
//  4. compares the response with the expected one and stops at the first
//     difference, reported as a step, a path such as
//     ResponseMessage/BatchItem[0]/ResponsePayload/UniqueIdentifier, the
//     expected and actual elements and the structures around them.
//
// # Placeholders
//
// The files stand for values no test can fix with symbolic identifiers
// (KMIP Profiles 2.1 §4: "$UPPERCASE_NAME followed by optional unique
// index"; date-times as $NOW, $NOW-n, $NOW+n in seconds):
//
//   - $UNIQUE_IDENTIFIER_n, $SHORT_UNIQUE_IDENTIFIER_n and any other name
//     not listed below: bound on first sight in a response to the value the
//     server returned; later responses must return the same value, and
//     requests send it.
//   - $UNIQUE_IDENTIFIER_RANDOM_n, $SHORT_UNIQUE_IDENTIFIER_RANDOM_n: first
//     seen in a request (an Import); the runner generates a fresh identifier
//     (a UUID-like text, or 32 random bytes) and binds it.
//   - Captured server output: $DATA_n, $IV_COUNTER_NONCE, $MAC_DATA,
//     $SIGNATURE_DATA, $AUTHENTICATED_ENCRYPTION_TAG, $KEY_MATERIAL(_n),
//     $KEY_VALUE(_n), $TICKET_VALUE, $CORRELATION_VALUE. In a response they
//     match any value of the type and capture it (again at every
//     appearance). A request sends the captured value; where a request names
//     one that no response bound (the expected response showed a literal,
//     as in CS-BC-M-13 and CS-AC-M-6), it sends what the server last
//     returned for the same tag.
//   - $NOW±n in a request: the runner's clock at the start of the file plus
//     n seconds; the same text gets the same value throughout the file, so
//     what a request fixes can be checked when it comes back. In a
//     response: see the date-time rules below; elsewhere within an hour of
//     the runner's clock.
//   - PKCS#11 Function and Return Code names: the specification does not
//     tabulate them (their tables are empty). The runner sends and compares
//     C_Initialize=1, C_Finalize=2, C_GetInfo=3 and OK=0, the values of the
//     PKCS#11 specification, the only ones the test cases use.
//
// # What is compared, and every leniency
//
// Everything is compared exactly unless listed here: element names (tags),
// types, order (where KMIP fixes it), presence and values. Values are
// compared by meaning, not spelling: enumerations by number (a name, a
// name from another version's table and 0x hex are the same value; an
// Attribute Reference names a tag; a 1.x Attribute Value takes the table of
// the tag its Attribute Name names), masks numerically (the files reorder
// the bit names), byte strings case-insensitively, big integers by value,
// date-times as instants (KMIP Profiles 2.1 §5.4.1 defines these textual
// forms as one encoding of one TTLV value).
//
// The leniencies, each permitted by KMIP Profiles 2.1 §4.1 (PROF21: §4.1.1
// variable items and response variations, §4.1.2 variable behaviour); the
// 1.4 files are compared by the same rules:
//
//   - Header: Time Stamp, Client Correlation Value and Server Correlation
//     Value may differ, be absent or be added (PROF21 §4.1.1 "Time Stamp",
//     "Client/Server Correlation Value"). Protocol Version and Batch Count
//     are exact.
//   - Batch items are paired by Unique Batch Item ID when the expected
//     items carry one, else by position (PROF21 §4.1.1 counts the Unique
//     Batch Item ID among the identifiers; §4.1.2 requires it only when a
//     batch has more than one item). The ID itself, Operation and Result
//     Status are exact, except that an Operation the recording left out
//     is accepted when it is the request item's (SPEC20 §8.6 requires it
//     in the response; TC-LOGIN-3-20 omits it where TC-DLOGIN-1-20, the
//     same exchange, has it).
//   - Result Message may differ, be absent or be added (PROF21 §4.1.1
//     "Result Message").
//   - Result Reason is exact, except that under protocol version 2.0 Permission
//     Denied and Wrong Key Lifecycle State are accepted for each other on
//     the lifecycle operations (Activate, Destroy, Revoke, Encrypt, Decrypt,
//     Sign, Signature Verify, MAC, MAC Verify, Derive Key, Modify
//     Attribute): the 2.0 profile files expect Permission Denied where the
//     2.1 files, and the KMIP 2.0 specification's error tables (§6.1.x),
//     say Wrong Key Lifecycle State.
//   - Identifiers: a literal Unique Identifier, Private/Public Key Unique
//     Identifier or Linked Object Identifier in an expected response matches
//     any value (PROF21 §4.1.1 "Unique Identifier"; placeholders are bound
//     and checked as above). Asynchronous Correlation Value likewise, and a
//     literal Short Unique Identifier, the hash of the vector author's
//     Unique Identifier (KMIP 2.0 §4.49).
//   - Date-time attributes not fixed in the request (Activation, Archive,
//     Compromise, Compromise Occurrence, Deactivation, Destroy, Initial,
//     Last Change, Process Start, Protect Stop, Validity and Original
//     Creation Date) may take any value (PROF21 §4.1.1). Where a request of
//     the file set one for the object, the response must return the value
//     sent (a $NOW± placeholder compares with the value substituted).
//   - Attributes (the items of Attributes, Common/Private Key/Public Key
//     Attributes and the 1.x Template Attribute structures, and the 1.x
//     Attribute items of a payload) are compared as a multiset: any order
//     (PROF21 §4.1.2 "Get Attributes order"), and attributes beyond the
//     expected ones are allowed (PROF21 §4.1.1 "additional attributes",
//     "extra Object Group values", "extra vendor attributes"); a whole
//     attribute structure the server adds (the 1.x Create response's
//     implicitly set attributes) is allowed for the same reason. A 1.x
//     Attribute Index of 0 equals an absent one (KMIP 1.4 §2.1.1: the
//     default index is 0). Get Attribute List responses may name more
//     attributes, in any order.
//   - Random Number Generator may take any value and its optional fields
//     may vary (PROF21 §4.1.1); it must be present where expected.
//   - Key material of server-generated objects (created by Create, Create
//     Key Pair, Re-key, Re-key Key Pair, Certify, Re-certify, Create Split
//     Key, and Derive Key or Join Split Key from any of those): Key
//     Material, a wrapped Key Value and Certificate Value may
//     take any value (PROF21 §4.1.1 "key material"); likewise a key wrapped
//     with a server-generated or asymmetric wrapping key. The Digest Value
//     of such objects may differ (PROF21 §4.1.1 "Digest"); the Digest's
//     hashing algorithm and key format are exact, and a Digest with SHA-256
//     must be present where the file shows one.
//   - Cryptographic output that is inherently variable (PROF21 §4.1.1):
//     Data, IV/Counter/Nonce and Authenticated Encryption Tag of an Encrypt
//     with a server-generated or asymmetric (randomised padding) key, or
//     whose IV the server chose (the request had none); the Signature Data
//     of a Sign with a server-generated key or a randomised scheme (DSA,
//     ECDSA, RSA-PSS); the MAC Data of a MAC with a server-generated key;
//     the Data of a Decrypt with a server-generated key (the file's
//     ciphertext was made with another key); the Data of RNG Retrieve (its
//     length is still checked). Other Decrypt, Signature Verify, MAC Verify
//     and Hash output is exact.
//   - Protocol Version of a response: the request's, even where a file
//     expects another (KMIP 2.0 §9.16 has the server answer in the request's
//     version; OMOS-O-1-14 step 1 expects 1.3 in answer to 1.4, an erratum).
//   - Query: Operations and Object Types beyond those expected, and, in a
//     profile file, expected ones the profile does not require (the Baseline
//     Server's 21 operations plus the profile's own, PROF21 §5.1.2 and
//     §5.6–5.11; see profiles.go: the recording server also listed Poll and
//     Template, which no profile requires), Application
//     Namespaces and Extension Information may vary, Vendor Identification
//     may differ, and the contents of Server Information may vary (it must
//     be present where expected) (PROF21 §4.1.1 "Query", "Vendor
//     Identification", "Server Information"). Items are compared as a
//     multiset.
//   - PKCS#11: the Output Parameters of C_GetInfo, a CK_INFO, may name
//     another library (manufacturer, description, library version) as
//     Vendor Identification and Server Information may differ (PROF21
//     §4.1.1); its length, Cryptoki version and flags are exact, as is the
//     output of every other function.
//   - Discover Versions without a client list may name extra versions: the
//     expected ones must appear, in order (PROF21 §4.1.1).
//   - Locate may return Located Items where the file shows none (PROF21
//     §4.1.1 "Located Items").
//   - An added Message Extension whose Criticality Indicator is false is
//     allowed (PROF21 §4.1.1 "non-critical message extensions").
//
// Not loosened, although PROF21 §4.1 allows it in principle: Key Format
// Type is exact (the variation applies only where neither the request nor
// the specification fixes the format, which the runner cannot tell);
// the clean-up, test-identifier, batch-splitting and authentication
// variations of §4.1.2 describe what a client may do, and the runner sends
// the files as written.
package conformance
