#!/usr/bin/env bash
# Keep ALSA's `default` as it is for the whole machine when pipewire-alsa is installed: its two links in
# /etc/alsa/conf.d (50-pipewire.conf, 99-pipewire-default.conf) would make PipeWire the default ALSA device for
# every program, taking the JACK lane's device away. A dpkg diversion (made before the package is installed, so
# the links land beside, renamed and unread) keeps them out; the PipeWire lane loads the plugin through its own
# ALSA config (scripts/pipewire-lane.sh). Idempotent; as root or with sudo.
set -euo pipefail
command -v dpkg-divert >/dev/null || exit 0  # not Debian: nothing installs those links
sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
for f in 50-pipewire.conf 99-pipewire-default.conf; do
  path=/etc/alsa/conf.d/$f
  dpkg-divert --list "$path" | grep -q voicetrace-off && continue
  $sudo dpkg-divert --local --rename --add --divert "$path.voicetrace-off" "$path" >/dev/null
done
