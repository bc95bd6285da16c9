"""The evidence ledger's one error type: a one-line message naming what is wrong and the fix."""

from __future__ import annotations


class EvidenceError(ValueError):
    """A domain error of the ledger (exit 1). `str()` is one line: `what: problem; fix`."""

    def __init__(self, what: str, problem: str, fix: str):
        self.what, self.problem, self.fix = what, problem, fix
        super().__init__(f"{what}: {problem}; {fix}")
