"""The evidence ledger's error type, one of the one hierarchy (`mlplatform.stacks.errors`, exit 1)."""

from __future__ import annotations

from ..errors import MlplatformError, PolicyRefusal


class EvidenceError(MlplatformError, ValueError):
    """A domain error of the ledger (exit 1). `str()` is one line: `what: problem; fix`."""

    def __init__(self, what: str, problem: str, fix: str):
        self.what = what
        super().__init__(what, problem, fix)


class LedgerRefusal(PolicyRefusal):
    """Writing would make the ledger untrustworthy: an unprotected bucket, or a chain with a deleted record (exit 3)."""
