"""`voicetrace models [--verify]`: the packaged and user-supplied models, and whether their files are whole."""

from __future__ import annotations

import argparse


def cmd_models(args: argparse.Namespace) -> int:
    from ..engines.catalog import catalog, ensure_files, models_dirs
    from ..errors import ModelError

    bad = 0
    for e in catalog():
        status = ""
        if args.verify:
            try:
                ensure_files(e, verify=True)
                if not e.packaged:  # no checksum to compare with: loading it is the check
                    from ..engines import create_engine

                    create_engine(e).load()
                status = "  [ok]"
            except ModelError as exc:
                status = f"  [ERROR: {exc}]"
                bad += 1
        print(f"{e.id:24s} {e.engine:7s} {e.sample_rate} Hz  default voice {e.default_voice}  — {e.title}{status}")
        for f in e.files.values():
            print(f"    {f.role:7s} {f.path}")
    print("user models are looked for in: " + ", ".join(str(d) for d in models_dirs()))
    return 1 if bad else 0
