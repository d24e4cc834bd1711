// Package pkcs11 is the PKCS#11 [hsm.Backend]: key material is generated
// and protected inside a hardware security module (SoftHSM2 in tests and
// CI) through github.com/miekg/pkcs11.
//
// The backend needs cgo. In a build without cgo (CGO_ENABLED=0) the package
// still compiles, and [Open] and [CreateKEK] return an error wrapping
// [ErrNoCgo].
//
// # Master keys (KEKs)
//
// Master-key version v is a pair of AES-256 token objects, created only by
// [CreateKEK] (`kmipd init --hsm pkcs11`) and by
// [Backend.UseKeyVersion] with create set (`kmipd hsm rotate`), never
// implicitly when a server starts:
//
//	purpose   CKA_LABEL                 CKA_ID                     usage
//	wrap KEK  <label>-v<v>              'W' ‖ v (4 bytes, BE)      CKA_WRAP, CKA_UNWRAP; CKA_ALLOWED_MECHANISMS [CKM_AES_KEY_WRAP_PAD]
//	GCM KEK   <label>-gcm-v<v>          'G' ‖ v (4 bytes, BE)      CKA_ENCRYPT, CKA_DECRYPT; CKA_ALLOWED_MECHANISMS [CKM_AES_GCM]
//
// <label> is Options.KEKLabel ("kmipd-kek" by default). Both are private,
// sensitive and non-extractable (CKA_EXTRACTABLE false), so their value
// never leaves the token; [Open] refuses a KEK that is extractable. Open
// finds the current version (which must exist: fail closed) and every older
// version still on the token, by label and ID. For speed it copies each KEK
// into a session object of the anchor session (C_CopyObject with CKA_TOKEN
// false; the copy stays sensitive and non-extractable); if the token
// refuses, the token object is used directly.
//
// # Blob formats
//
// Every blob starts with the 6-byte header of package hsm: format byte
// 0xA1, backend kind, master-key version (big-endian uint32). The PKCS#11
// backend writes two kinds; [Backend.Open] dispatches on the kind byte.
//
// Kind 0x02 ([hsm.KindPKCS11]): material of arbitrary length (KMIP
// Register of secret data, HMAC keys of odd lengths, opaque objects). The
// layout is exactly the one of [hsm.ParseBlob], sealed by C_Encrypt with
// CKM_AES_GCM under the GCM KEK of the version, with a random 12-byte IV and
// associated data "kmipd/v1/" ‖ object identifier ([hsm.AppendAAD]):
//
//	0   6     header (0xA1, 0x02, version)
//	6   12    GCM IV
//	18  n+16  ciphertext ‖ tag
//
// Kind 0x03 ([hsm.KindPKCS11Wrap]): a key that exists in plaintext only
// inside the HSM, stored wrapped with C_WrapKey(CKM_AES_KEY_WRAP_PAD) under
// the wrap KEK of the version:
//
//	0   6     header (0xA1, 0x03, version)
//	6   1     wrapping algorithm: 0x01 CKM_AES_KEY_WRAP_PAD
//	7   1     key type: 0x01 AES, 0x02 generic secret, 0x03 RSA private key, 0x04 EC private key
//	8   4     key length in bytes, big-endian (0 for private keys: PKCS#8 DER is self-delimiting)
//	12  12    GCM IV
//	24  16    GCM tag binding the blob to its object
//	40  n     wrapped key (the C_WrapKey output)
//
// The tag is C_Encrypt(CKM_AES_GCM) of an empty plaintext under the GCM KEK
// with associated data blob[0:12] ‖ wrapped key ‖ "kmipd/v1/" ‖ object
// identifier (a GMAC). KWP itself binds nothing, so without it a wrapped
// key copied into another object's record would open there; with it, the
// blob fails to open for any other identifier, as the software backend's
// blobs do. The associated data starts with 0xA1, kind-0x02 associated data
// with "k", so the two uses of the GCM KEK never collide.
//
// Symmetric keys are wrapped only when their length is a multiple of 8
// bytes (every AES, Triple-DES and ChaCha20 key; HMAC keys of whole 64-bit
// words). For those lengths SoftHSM's CKM_AES_KEY_WRAP_PAD output is exactly
// RFC 5649 (hsm.md §2: byte-identical to hsm/soft's WrapKeyPad for 32-byte
// keys), so the wrapped key at offset 40 can be unwrapped by any RFC 5649
// implementation holding the KEK. SoftHSM zero-pads other lengths before
// wrapping and loses the length (hsm.md quirk 1), so GenerateSymmetric seals
// such keys as kind 0x02 instead (random bytes from C_GenerateRandom,
// encrypted by C_Encrypt). Private keys are wrapped as PKCS#8, which SoftHSM
// zero-pads to a multiple of 8; Open trims it to the DER length.
//
// The software backend's blobs (kind 0x01) are untouched by all this: Open
// reports them, like any other kind, as [hsm.ErrKeyVersion].
//
// # Sessions
//
// One library per process: the module is loaded and C_Initialize'd once
// (with CKF_OS_LOCKING_OK) and stays loaded; several Backends may share it.
// Each Backend keeps one anchor session that logs in at Open and stays
// logged in until Close (the login state belongs to the whole process, and
// closing the last session or calling C_Logout logs every session out), and
// a pool of at most Options.PoolSize further read-write sessions, opened on
// demand. Every operation checks out one session exclusively for its whole
// sequence of calls (SoftHSM 2.6.1 crashes when two goroutines share a
// session) and destroys the session objects it creates before returning.
// A session on which a PKCS#11 call failed is closed instead of being put
// back.
//
// # Recovery and failing closed
//
// Operations hold the module's lock for reading; recovery holds it for
// writing, so it never runs under an operation in flight. When a call fails
// with a session error (CKR_SESSION_HANDLE_INVALID, CKR_SESSION_CLOSED), a
// handle or login error (CKR_OBJECT_HANDLE_INVALID, CKR_KEY_HANDLE_INVALID,
// CKR_WRAPPING_KEY_HANDLE_INVALID, CKR_UNWRAPPING_KEY_HANDLE_INVALID,
// CKR_USER_NOT_LOGGED_IN) or a device error (CKR_GENERAL_ERROR,
// CKR_DEVICE_*, CKR_TOKEN_NOT_PRESENT, CKR_CRYPTOKI_NOT_INITIALIZED, ...),
// the backend recovers once, in increasing steps:
//
//  1. the anchor session is alive: log in again (CKR_USER_ALREADY_LOGGED_IN
//     is success) and re-find the KEKs by label and ID;
//  2. otherwise open a new anchor session, log in, re-find the KEKs;
//  3. otherwise C_Finalize and C_Initialize the library, find the slot by
//     token label again, and do step 2.
//
// It then retries the operation once. If recovery or the retry fails, the
// backend is marked unavailable: operations fail at once with an error
// wrapping [hsm.ErrUnavailable] (KMIP General Failure) and [Backend.Health]
// reports it, until a later recovery attempt (at most one per
// RecoveryInterval, triggered by the next operation or health check)
// succeeds. C_Login is never retried in a loop (real HSMs lock the PIN).
//
// SoftHSM reports a tampered blob (bad GCM tag, bad KWP integrity value)
// as CKR_GENERAL_ERROR, like a vanished token. When opening a blob fails
// with it, the backend checks the token (C_GetTokenInfo, the anchor's
// login state, the current KEK): if all is well the blob is reported as
// [hsm.ErrBlobCorrupt], otherwise recovery proceeds as above.
//
// # Rotation, export, key pairs
//
// [Backend.Rewrap] moves a blob to the current master-key version: for kind
// 0x03 it unwraps under the old wrap KEK into a sensitive session object and
// wraps under the new one, so the key's plaintext never leaves the HSM; kind
// 0x02 is decrypted and encrypted again (the material was supplied by a
// client in plaintext in the first place), with the plaintext cleared at
// once. [Backend.RewrapKey] serves wrapped Get/Export of Sensitive keys the
// same way, wrapping under a client's key inside the HSM.
// [Backend.GenerateKeyPair] generates RSA and EC key pairs in the HSM as
// session objects; the private key is wrapped (kind 0x03, PKCS#8) and the
// public key returned as SubjectPublicKeyInfo DER.
//
// # Using keys inside the HSM
//
// The [hsm.Cipher] methods unwrap a kind-0x03 blob into a sensitive,
// non-extractable session object and use it:
// [Backend.SymmetricCrypt] (AES), [Backend.MAC] (HMAC, AES-CMAC),
// [Backend.Sign] (CKM_RSA_PKCS, CKM_RSA_PKCS_PSS, CKM_ECDSA; the private
// key is unwrapped as a CKO_PRIVATE_KEY object from its PKCS#8) and
// [Backend.Decrypt] (CKM_RSA_PKCS_OAEP with SHA-1 and no label, and
// CKM_RSA_X_509, on which the caller builds PKCS#1 v1.5 with implicit
// rejection rather than let CKM_RSA_PKCS's padding error be an oracle).
//
// # Key cache
//
// With Options.KeyCache 0 the object is destroyed after the operation.
// Otherwise each pooled session keeps up to KeyCache of them, least
// recently used first out, found by SHA-256 of the use (which template the
// key was unwrapped with), the object identifier and the whole blob: a
// blob that changes or is presented for another object is another key,
// and its binding tag is checked before it is unwrapped. A cached key is
// used only in the session that unwrapped it (the cache belongs to the
// session, touched only by the goroutine that checked it out, or under the
// module lock held for writing) and dies with it: a session is closed on
// any failed PKCS#11 call and by every recovery, and C_CloseSession
// destroys its session objects. Cached keys are destroyed
// (C_DestroyObject) on eviction, by [Backend.ForgetKey] (the server calls
// it once a Destroy or Revoke commits), when another master-key version
// becomes current or one is retired, and by Close. The HSM holds at most
// KeyCache × PoolSize of them; caching needs no extra trust, since the
// objects are as sensitive and non-extractable as the one-operation ones.
package pkcs11
