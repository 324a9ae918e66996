#!/usr/bin/env bash
# Make sure python3 is >= 3.11 and can create a virtual environment (Debian splits venv/ensurepip out).
set -euo pipefail
py=${PYTHON:-python3}
if ! command -v "$py" >/dev/null; then
  bash "$(dirname "$0")/apt-ensure.sh" python3 python3-venv
fi
"$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || {
  echo "voicetrace setup: Python >= 3.11 is needed ($("$py" --version 2>&1) found)" >&2; exit 1; }
"$py" -c 'import venv, ensurepip' 2>/dev/null || bash "$(dirname "$0")/apt-ensure.sh" python3-venv
