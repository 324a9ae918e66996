"""`voicetrace app` (the default): the desktop window."""

from __future__ import annotations

import argparse

from ..errors import UserError


def cmd_app(args: argparse.Namespace) -> int:
    try:
        from ..ui.app import main as app_main
    except ImportError as exc:  # Qt's libraries missing on this machine
        raise UserError(f"the desktop window cannot start ({exc})",
                        "run `make setup` (it installs the Qt libraries), or use `voicetrace speak`") from exc
    return app_main(args)
