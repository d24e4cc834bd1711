#!/usr/bin/python3
"""Drive a kmipd server with the real PyKMIP client (Debian python3-pykmip).

Usage: lifecycle.py HOST PORT CA CERT KEY VERSION
VERSION is 1.2, 1.4 or 2.0. Prints one JSON line per step
({"step": ..., "ok": true|false, ...}) and exits non-zero if any step failed.
"""
import json
import sys
import time

from kmip.core import enums
from kmip.core.factories import attributes as attribute_factory
from kmip.pie import objects
from kmip.pie.client import ProxyKmipClient

VERSIONS = {
    "1.2": enums.KMIPVersion.KMIP_1_2,
    "1.4": enums.KMIPVersion.KMIP_1_4,
    "2.0": enums.KMIPVersion.KMIP_2_0,
}

failed = False


def step(name, fn, check=None):
    global failed
    try:
        result = fn()
        detail = check(result) if check else None
        ok = detail is None or detail is True
        line = {"step": name, "ok": ok}
        if not ok:
            line["detail"] = str(detail)
            failed = True
        print(json.dumps(line), flush=True)
        return result
    except Exception as e:  # the step failed; report and go on
        failed = True
        print(json.dumps({"step": name, "ok": False, "error": "%s: %s" % (type(e).__name__, e)}), flush=True)
        return None


def main():
    host, port, ca, cert, key, version = sys.argv[1:7]
    af = attribute_factory.AttributeFactory()
    name = "pykmip-%s-%d" % (version, time.time_ns())
    client = ProxyKmipClient(hostname=host, port=int(port), ca=ca, cert=cert, key=key,
                             config_file="/dev/null", kmip_version=VERSIONS[version])
    client.open()
    try:
        usage = [enums.CryptographicUsageMask.ENCRYPT, enums.CryptographicUsageMask.DECRYPT]
        uid = step("create", lambda: client.create(enums.CryptographicAlgorithm.AES, 256, name=name,
                                                   cryptographic_usage_mask=usage),
                   lambda r: True if r else "no identifier")
        key_obj = step("get", lambda: client.get(uid),
                       lambda k: True if len(k.value) == 32 and k.cryptographic_algorithm == enums.CryptographicAlgorithm.AES
                       else "unexpected key %r" % (k,))
        step("get_attributes", lambda: client.get_attributes(uid, ["State", "Cryptographic Length"]),
             lambda r: True if {a.attribute_name.value: a.attribute_value.value for a in r[1]}.get("State") == enums.State.PRE_ACTIVE
             else "attributes %r" % (r,))
        step("get_attribute_list", lambda: client.get_attribute_list(uid),
             lambda r: True if "Cryptographic Algorithm" in r and "State" in r else "list %r" % (r,))
        step("locate_by_name", lambda: client.locate(attributes=[af.create_attribute(enums.AttributeType.NAME, name)]),
             lambda r: True if r == [uid] else "located %r" % (r,))
        step("activate", lambda: client.activate(uid))
        step("state_active", lambda: client.get_attributes(uid, ["State"]),
             lambda r: True if r[1][0].attribute_value.value == enums.State.ACTIVE else "state %r" % (r[1],))
        step("revoke", lambda: client.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, uid))
        step("destroy", lambda: client.destroy(uid))
        step("get_destroyed_fails", lambda: expect_failure(lambda: client.get(uid)))
        secret = objects.SecretData(b"correct horse battery staple", enums.SecretDataType.PASSWORD, name=name + "-secret")
        sid = step("register_secret", lambda: client.register(secret), lambda r: True if r else "no identifier")
        step("get_secret", lambda: client.get(sid),
             lambda s: True if s.value == b"correct horse battery staple" else "value %r" % (s.value,))
        step("get_unknown_fails", lambda: expect_failure(lambda: client.get("no-such-object")))
        step("key_material_ok", lambda: key_obj, lambda k: True if k is not None else "no key")
    finally:
        client.close()
    sys.exit(1 if failed else 0)


def expect_failure(fn):
    try:
        fn()
    except Exception:
        return True
    raise AssertionError("operation succeeded, expected a KMIP failure")


if __name__ == "__main__":
    main()
