"""The chain of evidence: which model was live when, trained on what, approved by whom.

Signed (DSSE + KMS ECDSA P-256), hash-chained, write-once in-toto records in an Object Lock S3 bucket.
`ledger` stores and reads them, `records` says what each kind holds, `audit` answers log / at / verify,
`observer` records what the cluster actually runs.
"""

from .errors import EvidenceError

__all__ = ["EvidenceError"]
