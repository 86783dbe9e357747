"""Verifies breachgate notices with an independent JOSE implementation (jwcrypto).

Usage: verify_jws.py JWKS_URL NOTICE_FILE JWS_FILE

Checks that the detached JWS (RFC 7515 appendix F) over the exact notice bytes
verifies against the served JWKS, and that flipping one byte of the notice makes
verification fail. Exits non-zero on any mismatch.
"""
import base64
import sys
import urllib.request

from jwcrypto import jwk, jws
from jwcrypto.common import JWException


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def verifies(keyset: jwk.JWKSet, payload: bytes, detached: str) -> bool:
    header, empty, signature = detached.strip().split(".")
    assert empty == "", "the JWS must be detached (empty payload part)"
    token = jws.JWS()
    token.deserialize(f"{header}.{b64url(payload)}.{signature}")
    kid = token.jose_header.get("kid")
    key = keyset.get_key(kid)
    assert key is not None, f"kid {kid!r} is not in the JWKS"
    try:
        token.verify(key, alg="EdDSA")
        return True
    except JWException:
        return False


def main() -> int:
    jwks_url, notice_path, jws_path = sys.argv[1:4]
    with urllib.request.urlopen(jwks_url) as response:
        keyset = jwk.JWKSet.from_json(response.read())
    payload = open(notice_path, "rb").read()
    detached = open(jws_path).read()

    if not verifies(keyset, payload, detached):
        print("FAIL: a genuine notice did not verify")
        return 1
    tampered = bytearray(payload)
    tampered[len(tampered) // 2] ^= 0x01
    if verifies(keyset, bytes(tampered), detached):
        print("FAIL: a tampered notice verified")
        return 1
    print("ok: jwcrypto verified the notice and rejected the tampered copy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
