"""The bundle's entry point: the same command line as the `voicetrace` console script."""

import sys

from voicetrace.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
