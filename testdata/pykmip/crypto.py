#!/usr/bin/python3
"""Drive kmipd's cryptographic operations with the real PyKMIP client.

Usage: crypto.py HOST PORT CA CERT KEY VERSION
VERSION is 1.2, 1.4 or 2.0. Covers create_key_pair, register of each object
type PyKMIP has (symmetric key, public key, private key, X.509 certificate,
secret data, opaque object, split key), encrypt, decrypt, sign,
signature_verify, mac and derive_key, checking every result against the
key material (the cryptography package, a PyKMIP dependency, recomputes
them). Prints one JSON line per step ({"step": ..., "ok": true|false, ...};
steps PyKMIP itself cannot send at VERSION carry "unsupported": true) and
exits non-zero if any other step failed.
"""
import datetime
import hashlib
import hmac
import json
import sys
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.x509.oid import NameOID

from kmip.core import enums
from kmip.pie import objects
from kmip.pie.client import ProxyKmipClient

VERSIONS = {
    "1.2": enums.KMIPVersion.KMIP_1_2,
    "1.4": enums.KMIPVersion.KMIP_1_4,
    "2.0": enums.KMIPVersion.KMIP_2_0,
}

U = enums.CryptographicUsageMask
failed = False


def report(name, ok, **extra):
    line = {"step": name, "ok": ok}
    line.update(extra)
    print(json.dumps(line), flush=True)


def step(name, fn, check=None):
    """Run fn; check(result) returns True/None when right, else a reason."""
    global failed
    try:
        result = fn()
    except NotImplementedError as e:  # PyKMIP's own limit, not the server's
        report(name, False, unsupported=True, error="NotImplementedError: %s" % e)
        return None
    except Exception as e:
        failed = True
        report(name, False, error="%s: %s" % (type(e).__name__, e))
        return None
    try:
        detail = check(result) if check else None
    except Exception as e:
        detail = "%s: %s" % (type(e).__name__, e)
    ok = detail is None or detail is True
    if ok:
        report(name, True)
    else:
        failed = True
        report(name, False, detail=str(detail))
    return result


def expect(cond, why):
    return True if cond else why


def self_signed(key, cn):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256()))


def main():
    host, port, ca, cert, key, version = sys.argv[1:7]
    tag = "pykmip-crypto-%s-%d" % (version, time.time_ns())
    client = ProxyKmipClient(hostname=host, port=int(port), ca=ca, cert=cert, key=key,
                             config_file="/dev/null", kmip_version=VERSIONS[version])
    client.open()
    try:
        run(client, tag)
    finally:
        client.close()
    sys.exit(1 if failed else 0)


def run(client, tag):
    msg = b"The quick brown fox jumps over the lazy dog"

    # --- Create Key Pair, Encrypt/Decrypt and Sign/Verify with RSA.
    pair = step("create_key_pair_rsa", lambda: client.create_key_pair(
        enums.CryptographicAlgorithm.RSA, 2048,
        public_name=tag + "-pub", public_usage_mask=[U.ENCRYPT, U.VERIFY],
        private_name=tag + "-priv", private_usage_mask=[U.DECRYPT, U.SIGN]),
        lambda r: expect(r and r[0] and r[1] and r[0] != r[1], "identifiers %r" % (r,)))
    if pair:
        pub_id, priv_id = pair
        step("activate_key_pair", lambda: (client.activate(pub_id), client.activate(priv_id)))
        pub = step("get_public_key", lambda: client.get(pub_id),
                   lambda k: expect(k.cryptographic_algorithm == enums.CryptographicAlgorithm.RSA
                                    and k.cryptographic_length == 2048, "key %r" % (k,)))
        oaep = {"cryptographic_algorithm": enums.CryptographicAlgorithm.RSA,
                "padding_method": enums.PaddingMethod.OAEP,
                "hashing_algorithm": enums.HashingAlgorithm.SHA_1}
        ct = step("encrypt_rsa_oaep", lambda: client.encrypt(msg, uid=pub_id, cryptographic_parameters=oaep),
                  lambda r: expect(len(r[0]) == 256, "ciphertext of %d bytes" % len(r[0])))
        if ct:
            step("decrypt_rsa_oaep", lambda: client.decrypt(ct[0], uid=priv_id, cryptographic_parameters=oaep),
                 lambda r: expect(r == msg, "plaintext %r" % (r,)))
        if pub:
            # A ciphertext made locally with the public key decrypts on the server.
            def local_ct():
                k = load_public(pub)
                return k.encrypt(msg, padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None))
            step("decrypt_local_ciphertext", lambda: client.decrypt(local_ct(), uid=priv_id, cryptographic_parameters=oaep),
                 lambda r: expect(r == msg, "plaintext %r" % (r,)))
        for scheme, params, pad in [
            ("pss", {"cryptographic_algorithm": enums.CryptographicAlgorithm.RSA,
                     "hashing_algorithm": enums.HashingAlgorithm.SHA_256,
                     "padding_method": enums.PaddingMethod.PSS},
             lambda: padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)),
            ("pkcs1v15", {"digital_signature_algorithm": enums.DigitalSignatureAlgorithm.SHA256_WITH_RSA_ENCRYPTION},
             lambda: padding.PKCS1v15()),
        ]:
            sig = step("sign_rsa_" + scheme, lambda: client.sign(msg, uid=priv_id, cryptographic_parameters=params),
                       lambda s: expect(len(s) == 256, "signature of %d bytes" % len(s)))
            if sig:
                step("verify_rsa_%s_valid" % scheme,
                     lambda: client.signature_verify(msg, sig, uid=pub_id, cryptographic_parameters=params),
                     lambda v: expect(v == enums.ValidityIndicator.VALID, "validity %r" % (v,)))
                step("verify_rsa_%s_tampered" % scheme,
                     lambda: client.signature_verify(msg + b"!", sig, uid=pub_id, cryptographic_parameters=params),
                     lambda v: expect(v == enums.ValidityIndicator.INVALID, "validity %r" % (v,)))
                if pub:
                    step("verify_rsa_%s_locally" % scheme,
                         lambda: load_public(pub).verify(sig, msg, pad(), hashes.SHA256()))

    # --- Create Key Pair for EC (PyKMIP sends only an algorithm and a length).
    step("create_key_pair_ec_p256", lambda: client.create_key_pair(
        enums.CryptographicAlgorithm.EC, 256, private_usage_mask=[U.SIGN], public_usage_mask=[U.VERIFY]),
        lambda r: expect(r and r[0] and r[1], "identifiers %r" % (r,)))

    # --- Symmetric Encrypt/Decrypt.
    aes_id = step("create_aes", lambda: client.create(enums.CryptographicAlgorithm.AES, 256,
                                                      cryptographic_usage_mask=[U.ENCRYPT, U.DECRYPT]))
    if aes_id:
        step("activate_aes", lambda: client.activate(aes_id))
        aes = step("get_aes", lambda: client.get(aes_id), lambda k: expect(len(k.value) == 32, "key %r" % (k,)))
        cbc = {"cryptographic_algorithm": enums.CryptographicAlgorithm.AES,
               "block_cipher_mode": enums.BlockCipherMode.CBC,
               "padding_method": enums.PaddingMethod.PKCS5}
        iv = bytes(range(16))
        enc = step("encrypt_aes_cbc", lambda: client.encrypt(msg, uid=aes_id, cryptographic_parameters=cbc,
                                                             iv_counter_nonce=iv),
                   lambda r: expect(len(r[0]) == 48, "ciphertext of %d bytes" % len(r[0])))
        if enc and aes:
            def local_cbc():
                pad = 16 - len(msg) % 16
                e = Cipher(algorithms.AES(aes.value), modes.CBC(iv)).encryptor()
                return e.update(msg + bytes([pad]) * pad) + e.finalize()
            step("encrypt_aes_cbc_matches", lambda: enc[0], lambda c: expect(c == local_cbc(), "ciphertext differs"))
            step("decrypt_aes_cbc", lambda: client.decrypt(enc[0], uid=aes_id, cryptographic_parameters=cbc,
                                                           iv_counter_nonce=iv),
                 lambda r: expect(r == msg, "plaintext %r" % (r,)))
        rnd = dict(cbc, random_iv=True)
        enc2 = step("encrypt_aes_cbc_server_iv", lambda: client.encrypt(msg, uid=aes_id, cryptographic_parameters=rnd),
                    lambda r: expect(r[1] is not None and len(r[1]) == 16, "IV %r" % (r[1],)))
        if enc2:
            step("decrypt_aes_cbc_server_iv", lambda: client.decrypt(enc2[0], uid=aes_id, cryptographic_parameters=cbc,
                                                                     iv_counter_nonce=enc2[1]),
                 lambda r: expect(r == msg, "plaintext %r" % (r,)))

    # --- MAC.
    mac_id = step("create_hmac_key", lambda: client.create(enums.CryptographicAlgorithm.HMAC_SHA256, 256,
                                                           cryptographic_usage_mask=[U.MAC_GENERATE, U.MAC_VERIFY]))
    if mac_id:
        step("activate_hmac_key", lambda: client.activate(mac_id))
        mk = step("get_hmac_key", lambda: client.get(mac_id))
        step("mac_hmac_sha256", lambda: client.mac(msg, uid=mac_id, algorithm=enums.CryptographicAlgorithm.HMAC_SHA256),
             lambda r: expect(mk is not None and r[0] == mac_id and r[1] == hmac.new(mk.value, msg, hashlib.sha256).digest(),
                              "MAC %r" % (r,)))

    # --- Derive Key.
    base = objects.SymmetricKey(enums.CryptographicAlgorithm.HMAC_SHA256, 256, bytes(range(32)),
                                masks=[U.DERIVE_KEY], name=tag + "-base")
    base_id = step("register_derivation_base", lambda: client.register(base))
    if base_id:
        step("activate_derivation_base", lambda: client.activate(base_id))
        data = b"derivation data"
        did = step("derive_key_hmac", lambda: client.derive_key(
            enums.ObjectType.SYMMETRIC_KEY, [base_id], enums.DerivationMethod.HMAC,
            {"cryptographic_parameters": {"hashing_algorithm": enums.HashingAlgorithm.SHA_256},
             "derivation_data": data},
            cryptographic_algorithm=enums.CryptographicAlgorithm.AES, cryptographic_length=256))
        if did:
            step("get_derived_key", lambda: client.get(did),
                 lambda k: expect(k.value == hmac.new(bytes(range(32)), data, hashlib.sha256).digest(),
                                  "derived %r" % (k.value,)))
    pw = objects.SecretData(b"password", enums.SecretDataType.PASSWORD, masks=[U.DERIVE_KEY], name=tag + "-pw")
    pw_id = step("register_password", lambda: client.register(pw))
    if pw_id:
        step("activate_password", lambda: client.activate(pw_id))
        did = step("derive_key_pbkdf2", lambda: client.derive_key(
            enums.ObjectType.SYMMETRIC_KEY, [pw_id], enums.DerivationMethod.PBKDF2,
            {"cryptographic_parameters": {"hashing_algorithm": enums.HashingAlgorithm.SHA_1},
             "salt": b"salt", "iteration_count": 4096},
            cryptographic_algorithm=enums.CryptographicAlgorithm.AES, cryptographic_length=128))
        if did:
            step("get_pbkdf2_key", lambda: client.get(did),
                 lambda k: expect(k.value == hashlib.pbkdf2_hmac("sha1", b"password", b"salt", 4096, 16),
                                  "derived %r" % (k.value,)))

    # --- Register every object type and read it back.
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    priv_der = rsa_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
    pub_der = rsa_key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    cert_der = self_signed(rsa_key, tag).public_bytes(serialization.Encoding.DER)
    regs = [
        ("symmetric_key", objects.SymmetricKey(enums.CryptographicAlgorithm.AES, 128, bytes(16), name=tag + "-sym")),
        ("public_key", objects.PublicKey(enums.CryptographicAlgorithm.RSA, 2048, pub_der,
                                         enums.KeyFormatType.PKCS_1, name=tag + "-regpub")),
        ("private_key", objects.PrivateKey(enums.CryptographicAlgorithm.RSA, 2048, priv_der,
                                           enums.KeyFormatType.PKCS_8, name=tag + "-regpriv")),
        ("x509_certificate", objects.X509Certificate(cert_der, name=tag + "-cert")),
        ("secret_data", objects.SecretData(b"s3cr3t", enums.SecretDataType.SEED, name=tag + "-seed")),
        ("opaque_object", objects.OpaqueObject(b"opaque bytes", enums.OpaqueDataType.NONE, name=tag + "-opaque")),
        ("split_key", objects.SplitKey(enums.CryptographicAlgorithm.AES, 128, bytes(range(16)), name=tag + "-split",
                                       split_key_parts=4, key_part_identifier=1, split_key_threshold=2,
                                       split_key_method=enums.SplitKeyMethod.POLYNOMIAL_SHARING_GF_2_8)),
    ]
    for kind, obj in regs:
        rid = step("register_" + kind, lambda: client.register(obj), lambda r: expect(r, "no identifier"))
        if rid:
            step("get_registered_" + kind, lambda: client.get(rid),
                 lambda got: expect(type(got) is type(obj) and got.value == obj.value, "got %r" % (got,)))

    # A registered key pair signs and verifies as a created one does.
    rp = step("register_sign_pair", lambda: (
        client.register(objects.PrivateKey(enums.CryptographicAlgorithm.RSA, 2048, priv_der,
                                           enums.KeyFormatType.PKCS_8, masks=[U.SIGN], name=tag + "-signpriv")),
        client.register(objects.PublicKey(enums.CryptographicAlgorithm.RSA, 2048, pub_der,
                                          enums.KeyFormatType.PKCS_1, masks=[U.VERIFY], name=tag + "-signpub"))))
    if rp:
        step("activate_registered_pair", lambda: (client.activate(rp[0]), client.activate(rp[1])))
        params = {"cryptographic_algorithm": enums.CryptographicAlgorithm.RSA,
                  "hashing_algorithm": enums.HashingAlgorithm.SHA_256,
                  "padding_method": enums.PaddingMethod.PKCS1v15}
        sig = step("sign_registered_key", lambda: client.sign(msg, uid=rp[0], cryptographic_parameters=params),
                   lambda s: expect(s == rsa_key.sign(msg, padding.PKCS1v15(), hashes.SHA256()),
                                    "signature differs from the local one"))
        if sig:
            step("verify_registered_key", lambda: client.signature_verify(msg, sig, uid=rp[1], cryptographic_parameters=params),
                 lambda v: expect(v == enums.ValidityIndicator.VALID, "validity %r" % (v,)))


def load_public(k):
    """The cryptography public key of a PyKMIP PublicKey in PKCS#1 or X.509."""
    der = k.value
    if k.key_format_type == enums.KeyFormatType.PKCS_1:
        # SubjectPublicKeyInfo { rsaEncryption NULL, BIT STRING (PKCS#1) }
        alg = bytes.fromhex("300d06092a864886f70d0101010500")
        body = alg + b"\x03" + der_len(len(der) + 1) + b"\x00" + der
        der = b"\x30" + der_len(len(body)) + body
    return serialization.load_der_public_key(der)


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


if __name__ == "__main__":
    main()
