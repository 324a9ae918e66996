#!/usr/bin/env bash
# Wrap build/dist/voicetrace into a .deb: /opt/voicetrace, /usr/bin/voicetrace, a menu entry and an icon.
# zstd compression (dpkg ≥ 1.21.18: Debian 12, Ubuntu 21.10 and later).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
VERSION=$("$PY" -c "import voicetrace; print(voicetrace.__version__)")
ARCH=$(dpkg --print-architecture)
ROOT=build/deb/voicetrace
rm -rf build/deb build/voicetrace_*.deb
mkdir -p "$ROOT/DEBIAN" "$ROOT/opt" "$ROOT/usr/bin" "$ROOT/usr/share/applications" \
  "$ROOT/usr/share/icons/hicolor/scalable/apps" "$ROOT/usr/share/doc/voicetrace"
cp -a build/dist/voicetrace "$ROOT/opt/voicetrace"
ln -s /opt/voicetrace/voicetrace "$ROOT/usr/bin/voicetrace"
cp packaging/voicetrace.desktop "$ROOT/usr/share/applications/voicetrace.desktop"
cp assets/voicetrace.svg "$ROOT/usr/share/icons/hicolor/scalable/apps/voicetrace.svg"
cp packaging/THIRD_PARTY_LICENSES.md "$ROOT/usr/share/doc/voicetrace/copyright"
# The bundle carries Python, Qt, onnxruntime and PortAudio. The target provides the sound stack under
# PortAudio (ALSA's library reads the target's own ALSA configuration; JACK's must match its server) and the
# graphics/X libraries Qt's xcb plugin and OpenGL use.
cat > "$ROOT/DEBIAN/control" <<CONTROL
Package: voicetrace
Version: $VERSION
Architecture: $ARCH
Maintainer: VoiceTrace developers <voicetrace@example.invalid>
Installed-Size: $(du -sk "$ROOT" | cut -f1)
Depends: libasound2t64 | libasound2, libjack-jackd2-0 | libjack0, libegl1, libgl1, libglib2.0-0t64 | libglib2.0-0, libfontconfig1, libfreetype6, libdbus-1-3, libxkbcommon0, libxkbcommon-x11-0, libx11-6, libx11-xcb1, libxcb-cursor0, libxcb-icccm4, libxcb-image0, libxcb-keysyms1, libxcb-randr0, libxcb-render-util0, libxcb-shape0, libxcb-xfixes0, libxcb-xkb1, fonts-dejavu-core
Recommends: pipewire-alsa | pulseaudio | jackd2
Section: sound
Priority: optional
Homepage: https://example.invalid/voicetrace
Description: local streaming text-to-speech that measures its own latency
 VoiceTrace speaks typed or pasted text with a warm Kokoro or Piper voice and graphs, live, how fast the
 first sound came, how evenly the chunks arrived and how fast an interruption silenced it. Both voices are
 included; nothing is downloaded.
CONTROL
dpkg-deb --root-owner-group -Zzstd -b "$ROOT" "build/voicetrace_${VERSION}_${ARCH}.deb" >/dev/null
echo "built build/voicetrace_${VERSION}_${ARCH}.deb"
