"""The one family of errors judge-audit shows to users, and its documented exit codes.

Every error is printed as a single line (``Error: ...``) without a traceback.

    0  ok
    1  a gate check failed                         (GateFailed)
    2  bad input or usage                          (InputError, ConfigError)
    3  a judge is unavailable (credentials, down)  (JudgeUnavailable)
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_JUDGE_UNAVAILABLE = 3


class AuditError(Exception):
    """Base class: a problem the user can fix, shown as one line."""

    exit_code = EXIT_BAD_INPUT


class InputError(AuditError):
    """A data file is unreadable or malformed. Message names file, line and field."""

    def __init__(self, path, line: int | None, field: str | None, message: str):
        self.path, self.line, self.field = str(path), line, field
        where = self.path
        if line is not None:
            where += f" line {line}"
        if field:
            where += f", field {field}"
        super().__init__(f"{where}: {message}")


class ConfigError(AuditError):
    """A judge config or option combination is invalid."""


class JudgeUnavailable(AuditError):
    """A judge cannot be called: missing credentials, provider down, model not found."""

    exit_code = EXIT_JUDGE_UNAVAILABLE


class GateFailed(AuditError):
    """A gate check failed (``judge-audit check``)."""

    exit_code = EXIT_GATE_FAILED
