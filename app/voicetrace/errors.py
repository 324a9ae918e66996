"""Errors a user can act on: each says what happened and how to fix it, in one line."""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix (bad input, missing device or model). The CLI prints it and exits 2."""

    def __init__(self, what: str, fix: str = "") -> None:
        self.what = what
        self.fix = fix
        super().__init__(f"{what}. {fix[:1].upper()}{fix[1:]}" if fix else what)


class ModelError(UserError):
    """A model file is missing, truncated or fails its checksum."""


class DeviceError(UserError):
    """No usable audio output device, or the one asked for does not exist."""


class SynthesisCancelled(Exception):
    """Raised inside an engine when a run was aborted by cancel()."""
