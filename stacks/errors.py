"""One error hierarchy; the CLI maps it to exit codes in one place (cli/main.py `MlplatformGroup`).

Every error's `str()` is one line: `key: problem; fix`.

    MlplatformError          exit 1  a domain error (bad config, unreadable file, the cloud said no)
    ├── SpecError            exit 1  a value of the stack (names the key path, e.g. gpu.pools.0.instance_types)
    ├── UsageError           exit 2  the options contradict each other or pick nothing (several stacks, ...)
    └── PolicyRefusal        exit 3  refused on purpose: data loss, unwaived high findings, not confirmed
"""

from __future__ import annotations

EXIT_DOMAIN, EXIT_USAGE, EXIT_POLICY = 1, 2, 3  # success is 0


class MlplatformError(Exception):
    """Base of every error mlplatform raises on purpose."""

    exit_code = EXIT_DOMAIN

    def __init__(self, key: str, problem: str, fix: str):
        self.key, self.problem, self.fix = key, problem, fix
        super().__init__(f"{key}: {problem}; {fix}")


class SpecError(MlplatformError, ValueError):
    """Bad stack configuration or input file (exit 1)."""


class UsageError(MlplatformError):
    """The command line asks for something impossible or ambiguous (exit 2)."""

    exit_code = EXIT_USAGE


class PolicyRefusal(MlplatformError):
    """A deliberate refusal: it would lose data, a high finding is open, it was not confirmed (exit 3).

    `reasons` lists each cause (printed one per line under the first)."""

    exit_code = EXIT_POLICY

    def __init__(
        self, key: str, problem: str, fix: str, reasons: list[str] | None = None, document: dict | None = None
    ):
        self.reasons = list(reasons or [])
        self.document = document  # under --json: what the command decided, printed with the error object
        super().__init__(key, problem, fix)
