#!/usr/bin/python3
"""Create a key with the real PyKMIP client presenting a Username and Password
credential (ProxyKmipClient(username=..., password=...)).

Usage: credential.py HOST PORT CA CERT KEY VERSION USERNAME PASSWORD
Prints one JSON line: {"uid": ...} on success, {"error": ...} otherwise
(and exits non-zero).
"""
import json
import sys

from kmip.core import enums
from kmip.pie.client import ProxyKmipClient

VERSIONS = {
    "1.2": enums.KMIPVersion.KMIP_1_2,
    "1.4": enums.KMIPVersion.KMIP_1_4,
    "2.0": enums.KMIPVersion.KMIP_2_0,
}


def main():
    host, port, ca, cert, key, version, username, password = sys.argv[1:9]
    client = ProxyKmipClient(hostname=host, port=int(port), ca=ca, cert=cert, key=key,
                             username=username, password=password,
                             config_file="/dev/null", kmip_version=VERSIONS[version])
    client.open()
    try:
        uid = client.create(enums.CryptographicAlgorithm.AES, 256,
                            cryptographic_usage_mask=[enums.CryptographicUsageMask.ENCRYPT])
        print(json.dumps({"uid": uid}), flush=True)
    except Exception as e:
        print(json.dumps({"error": "%s: %s" % (type(e).__name__, e)}), flush=True)
        sys.exit(1)
    finally:
        client.close()


if __name__ == "__main__":
    main()
