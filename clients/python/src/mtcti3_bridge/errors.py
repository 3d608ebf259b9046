"""Exceptions of the client.

    CommandError            base of everything send_command raises
    ├── CommandRejected     status "rejected": the bridge did not send it (reason_code says why)
    ├── CommandFailed       status "failed": the PBX answered with an error code
    ├── CommandTimedOut     status "timeout": the PBX did not answer by the deadline; outcome unknown
    ├── NoResult            no final result reached the client within its wait
    └── CommandNotSent      Kafka did not take the command

CommandTimedOut and NoResult are also TimeoutError.  Every one but NoResult
and CommandNotSent carries the result (`.result`, a CommandResult).
"""
from __future__ import annotations

from typing import Optional


class CommandError(Exception):
    """A command that did not succeed.  `command_id` is its id; `result`
    the final result when there is one."""

    def __init__(self, message: str, command_id: str, result=None):
        super().__init__(message)
        self.command_id = command_id
        self.result = result


class CommandRejected(CommandError):
    """The bridge refused the command: never sent to the PBX."""

    @property
    def reason_code(self) -> Optional[str]:
        return self.result.reason_code if self.result else None

    @property
    def reason(self) -> Optional[str]:
        return self.result.reason if self.result else None


class CommandFailed(CommandError):
    """The PBX answered with an error (code, code_name: MTCTISESS_*)."""

    @property
    def code(self) -> Optional[int]:
        return self.result.code if self.result else None

    @property
    def code_name(self) -> Optional[str]:
        return self.result.code_name if self.result else None


class CommandTimedOut(CommandError, TimeoutError):
    """The bridge gave up waiting for the PBX's answer (status timeout):
    the command may or may not have taken effect."""


class NoResult(CommandError, TimeoutError):
    """No final result reached the client in time.  The command may still
    run: send it again with the same id to learn its outcome (it is not
    executed twice)."""


class CommandNotSent(CommandError):
    """Kafka did not take the command (delivery failed)."""
