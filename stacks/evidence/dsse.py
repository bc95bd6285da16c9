"""DSSE envelopes (https://github.com/secure-systems-lab/dsse, protocol v1) signed with a KMS key.

The signature covers PAE(payloadType, payload), the Pre-Authentication Encoding of the spec:

    "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body      (LEN: ASCII decimal byte count)

Signing: KMS `Sign` with `SigningAlgorithm=ECDSA_SHA_256` and `MessageType=RAW` on an `ECC_NIST_P256`
`SIGN_VERIFY` key: KMS hashes the PAE with SHA-256 and signs it; the signature is ASN.1 DER. RAW is the
one message type used (KMS takes at most 4096 bytes of RAW message: a larger record is refused with
the fix). The result is a plain ECDSA P-256 / SHA-256 signature over the PAE, so anyone holding the
public key verifies it without AWS (`PublicKeyVerifier`, or openssl; see README).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .errors import EvidenceError

PAYLOAD_TYPE = "application/vnd.in-toto+json"
SIGNING_ALGORITHM = "ECDSA_SHA_256"
KEY_SPEC = "ECC_NIST_P256"
MAX_RAW_MESSAGE = 4096  # KMS Sign, MessageType RAW


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 Pre-Authentication Encoding."""
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def canonical_json(data: Any) -> bytes:
    """The one serialization of a statement or envelope: sorted keys, no whitespace, UTF-8."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class KmsSigner:
    """Signs PAE bytes with a KMS ECC_NIST_P256 SIGN_VERIFY key.

    Needs `kms:Sign` only: the key's ARN (the envelope's keyid) comes back with the signature, and a key
    that cannot sign ECDSA_SHA_256 is refused by KMS before anything is written.
    """

    def __init__(self, kms: Any, key_id: str):
        self.kms, self.key_id = kms, key_id
        self.key_arn: str | None = None

    def sign(self, message: bytes) -> bytes:
        from botocore.exceptions import ClientError

        if len(message) > MAX_RAW_MESSAGE:
            raise EvidenceError(
                "record",
                f"the signed record is {len(message)} bytes; KMS signs at most {MAX_RAW_MESSAGE}",
                "keep large detail (full metric tables, reports) in an "
                "artifact and reference it by digest in the predicate",
            )
        try:
            r = self.kms.sign(KeyId=self.key_id, Message=message, MessageType="RAW", SigningAlgorithm=SIGNING_ALGORITHM)
        except ClientError as e:
            err = e.response.get("Error", {})
            if err.get("Code") in (
                "NotFoundException",
                "InvalidKeyUsageException",
                "KMSInvalidStateException",
                "DisabledException",
                "ValidationException",
                "KMSInvalidSigningAlgorithmException",
            ):
                raise EvidenceError(
                    "--key",
                    f"{self.key_id} cannot sign {SIGNING_ALGORITHM} ({err.get('Code')}: {err.get('Message')})",
                    f"use the ledger's enabled {KEY_SPEC} SIGN_VERIFY key (stack output evidence_key)",
                ) from None
            raise
        self.key_arn = r.get("KeyId") or self.key_id
        return r["Signature"]


def load_public_key(data: bytes, name: str | None = None) -> ec.EllipticCurvePublicKey:
    """A P-256 public key from PEM or DER (SubjectPublicKeyInfo, what KMS GetPublicKey returns); `name`:
    the file it was read from, for the message."""
    what = f"{name} " if name else ""
    try:
        key = (
            serialization.load_pem_public_key(data)
            if data.lstrip().startswith(b"-----BEGIN")
            else serialization.load_der_public_key(data)
        )
    except ValueError:
        raise EvidenceError(
            "--public-key",
            f"{what}is not a PEM or DER public key",
            "export it with `aws kms get-public-key --key-id KEY --output text --query PublicKey "
            "| base64 -d > ledger.der`",
        ) from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise EvidenceError(
            "--public-key", f"{what}is not an ECC NIST P-256 key", "use the ledger signing key's public key"
        )
    return key


def public_key_pem(key: ec.EllipticCurvePublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@dataclass
class Envelope:
    payload_type: str
    payload: bytes
    signatures: list[dict[str, str]]  # [{"keyid": ..., "sig": base64}]

    def to_dict(self) -> dict[str, Any]:
        return {
            "payloadType": self.payload_type,
            "payload": base64.b64encode(self.payload).decode(),
            "signatures": self.signatures,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Envelope:
        if not isinstance(data, dict) or not {"payloadType", "payload", "signatures"} <= set(data):
            raise ValueError("not a DSSE envelope (payloadType, payload, signatures)")
        sigs = data["signatures"]
        if not isinstance(sigs, list) or not sigs or not all(isinstance(s, dict) and "sig" in s for s in sigs):
            raise ValueError("a DSSE envelope without signatures")
        return cls(data["payloadType"], base64.b64decode(data["payload"], validate=True), sigs)


def sign_envelope(statement: dict[str, Any], signer: KmsSigner) -> Envelope:
    payload = canonical_json(statement)
    sig = signer.sign(pae(PAYLOAD_TYPE, payload))
    return Envelope(
        PAYLOAD_TYPE, payload, [{"keyid": signer.key_arn or signer.key_id, "sig": base64.b64encode(sig).decode()}]
    )


def same_key(a: Any, b: str) -> bool:
    """Whether two KMS key references (ARN or key id) name the same key."""
    if not isinstance(a, str):
        return False
    return a == b or a.rsplit("key/", 1)[-1] == b.rsplit("key/", 1)[-1]


def verify_envelope(env: Envelope, key: ec.EllipticCurvePublicKey, keyid: str | None = None) -> str | None:
    """None when one signature (of `keyid`, when given) verifies over the PAE; else why not."""
    message = pae(env.payload_type, env.payload)
    candidates = [s for s in env.signatures if keyid is None or same_key(s.get("keyid"), keyid)]
    if not candidates:
        return f"signed by {', '.join(str(s.get('keyid')) for s in env.signatures)}, not by the ledger key {keyid}"
    for s in candidates:
        try:
            key.verify(base64.b64decode(s["sig"], validate=True), message, ec.ECDSA(hashes.SHA256()))
            return None
        except (InvalidSignature, ValueError, TypeError):
            continue
    return "signature does not verify with the ledger's public key (forged or altered)"
