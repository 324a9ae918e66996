#!/usr/bin/env bash
# Build the one-folder bundle (build/dist/voicetrace) and the .deb (build/voicetrace_<version>_<arch>.deb),
# then print their sizes. Uses the project's venv (made by `make setup`); installs PyInstaller into it from
# the package registry (the `package` extra), downloads nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
"$PY" -m pip install -q -e '.[package]'
"$PY" -m pip freeze --exclude-editable > build/build-requirements.txt 2>/dev/null || true
start=$(date +%s)
"$PY" -m PyInstaller --noconfirm --log-level WARN --distpath build/dist --workpath build/pyinstaller \
  packaging/voicetrace.spec
cp build/build-requirements.txt build/dist/voicetrace/ 2>/dev/null || true
echo "bundle built in $(( $(date +%s) - start )) s"
PY="$PY" bash packaging/build-deb.sh
echo "sizes:"
du -sh build/dist/voicetrace | sed 's/^/  bundle (unpacked) /'
ls -l build/voicetrace_*.deb | awk '{printf "  .deb %.1f MB  %s\n", $5/1048576, $9}'
