"""Checks one delivered notice with implementations independent of breachgate.

Usage: verify_delivery.py JWKS_URL WHSEC_SECRET WEBHOOK_BODY WEBHOOK_HEADERS_JSON EMAIL_EML

- the official `standardwebhooks` package verifies the `v1` (HMAC) signature,
  and rejects a tampered body;
- `cryptography` verifies the `v1a` (Ed25519) signature with the key from the JWKS;
- Python's `email` package parses the message: text and HTML parts, and a
  `notice.json` attachment byte-identical to the webhook body;
- jwcrypto verifies the attachment's `notice.jws` against the JWKS.
"""
import base64
import email
import json
import sys
import urllib.request
from email import policy

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from jwcrypto import jwk
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from verify_jws import verifies


def fail(message: str) -> None:
    print(f"FAIL: {message}")
    sys.exit(1)


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def main() -> int:
    jwks_url, secret, body_path, headers_path, eml_path = sys.argv[1:6]
    with urllib.request.urlopen(jwks_url) as response:
        jwks_text = response.read()
    body = open(body_path, "rb").read()
    headers = json.load(open(headers_path))

    webhook = Webhook(secret)
    webhook.verify(body, headers)
    try:
        webhook.verify(body.replace(b'"', b"'", 1), headers)
        fail("standardwebhooks accepted a tampered body")
    except WebhookVerificationError:
        pass

    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    v1a = [s.split(",", 1)[1] for s in headers["webhook-signature"].split() if s.startswith("v1a,")]
    if not v1a:
        fail("no v1a signature although the endpoint asks for it")
    key = json.loads(jwks_text)["keys"][0]
    public = Ed25519PublicKey.from_public_bytes(b64url_decode(key["x"]))
    try:
        public.verify(base64.b64decode(v1a[0]), signed)
    except InvalidSignature:
        fail("v1a signature does not verify")

    message = email.message_from_bytes(open(eml_path, "rb").read(), policy=policy.default)
    if message.get_content_type() != "multipart/mixed":
        fail(f"email is {message.get_content_type()}, not multipart/mixed")
    types = {part.get_content_type() for part in message.walk()}
    for wanted in ("text/plain", "text/html"):
        if wanted not in types:
            fail(f"email has no {wanted} part")
    attachments = {part.get_filename(): part.get_payload(decode=True) for part in message.iter_attachments()}
    if attachments.get("notice.json") != body:
        fail("notice.json attachment differs from the webhook body")
    jws_text = attachments.get("notice.jws", b"").decode()
    if jws_text.strip() != headers["breachgate-notice-jws"]:
        fail("notice.jws attachment differs from the breachgate-notice-jws header")
    if not verifies(jwk.JWKSet.from_json(jwks_text), attachments["notice.json"], jws_text):
        fail("the attached notice does not verify against the JWKS")
    print("ok: standardwebhooks v1, Ed25519 v1a, email structure and attachment JWS all verified")
    return 0


if __name__ == "__main__":
    sys.exit(main())
