#!/usr/bin/env bash
# Start/stop a headless PipeWire of the test lane's own: a session bus, pipewire, wireplumber and pipewire-pulse
# in a private XDG_RUNTIME_DIR, a null sink "speakers" as the default, the graph driven by PipeWire's
# Dummy-Driver (a timer: real time, no sound card). ALSA's `default` reaches it only in this lane's environment:
# its own ALSA_CONFIG_PATH loads pipewire-alsa's plugin, and nothing under /etc/alsa is used or changed (a
# machine-wide PipeWire default would take the JACK lane's device away; docs/measurements.md).
#   pipewire-lane.sh start   start it (reuses one this script started), print nothing
#   pipewire-lane.sh env     the exports a process needs to play into it (eval "$(pipewire-lane.sh env)")
#   pipewire-lane.sh stop    stop what this script started (its pid files), remove its folder
# The ALSA plugin: pipewire-alsa's .so files, from $VOICETRACE_PW_ALSA_LIB, else where the package puts them.
set -u
dir=${VOICETRACE_PW_LANE:-${TMPDIR:-/tmp}/voicetrace-pipewire-lane}
run=$dir/run
alsa_lib=${VOICETRACE_PW_ALSA_LIB:-/usr/lib/$(uname -m)-linux-gnu/alsa-lib}
alsa_share=${VOICETRACE_PW_ALSA_SHARE:-/usr/share/alsa/alsa.conf.d}
lane_env() {
  echo "export XDG_RUNTIME_DIR=$run DBUS_SESSION_BUS_ADDRESS=unix:path=$run/bus ALSA_CONFIG_PATH=$dir/alsa.conf"
}
ours() { [ -f "$dir/pipewire.pid" ] && kill -0 "$(cat "$dir/pipewire.pid")" 2>/dev/null; }
stop_all() {
  for p in pulse wireplumber pipewire dbus; do
    [ -f "$dir/$p.pid" ] || continue
    pid=$(cat "$dir/$p.pid"); kill "$pid" 2>/dev/null
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null; rm -f "$dir/$p.pid"
  done
}
fail() {
  echo "pipewire-lane: $1" >&2
  for f in "$dir"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -20 "$f" >&2; }; done
  stop_all; exit 1
}
case "${1:-}" in
  start)
    ours && exit 0
    for c in pipewire wireplumber pipewire-pulse pactl dbus-daemon; do
      command -v "$c" >/dev/null || { echo "pipewire-lane: $c is missing: run \`make pipewire-setup\`" >&2; exit 1; }
    done
    [ -f "$alsa_lib/libasound_module_pcm_pipewire.so" ] \
      || { echo "pipewire-lane: no libasound_module_pcm_pipewire.so in $alsa_lib (pipewire-alsa)" >&2; exit 1; }
    mkdir -p "$run"; chmod 700 "$run"
    cat >"$dir/alsa.conf" <<CONF
</usr/share/alsa/alsa.conf>
pcm_type.pipewire { lib "$alsa_lib/libasound_module_pcm_pipewire.so" }
ctl_type.pipewire { lib "$alsa_lib/libasound_module_ctl_pipewire.so" }
<$alsa_share/50-pipewire.conf>
pcm.!default { type pipewire playback_node "-1" capture_node "-1" }
ctl.!default { type pipewire }
CONF
    eval "$(lane_env)"
    nohup dbus-daemon --session --address="$DBUS_SESSION_BUS_ADDRESS" --nofork >"$dir/dbus.log" 2>&1 &
    echo $! >"$dir/dbus.pid"
    for _ in $(seq 50); do [ -S "$run/bus" ] && break; sleep 0.1; done
    nohup pipewire >"$dir/pipewire.log" 2>&1 & echo $! >"$dir/pipewire.pid"
    for _ in $(seq 50); do [ -S "$run/pipewire-0" ] && break; sleep 0.1; done
    [ -S "$run/pipewire-0" ] || fail "pipewire did not start"
    nohup wireplumber >"$dir/wireplumber.log" 2>&1 & echo $! >"$dir/wireplumber.pid"
    nohup pipewire-pulse >"$dir/pulse.log" 2>&1 & echo $! >"$dir/pulse.pid"
    for _ in $(seq 100); do pactl info >/dev/null 2>&1 && break; sleep 0.1; done
    pactl load-module module-null-sink sink_name=speakers sink_properties=device.description=Speakers >/dev/null \
      || fail "pipewire-pulse did not load the null sink"
    # The default is WirePlumber's to keep ("Not supported" until it has taken the graph): ask until it says yes.
    # Until it reads back: a yes can come before WirePlumber has applied it (seen once on a busy machine).
    for _ in $(seq 200); do
      pactl set-default-sink speakers 2>/dev/null && [ "$(pactl get-default-sink 2>/dev/null)" = speakers ] && break
      sleep 0.1
    done
    [ "$(pactl get-default-sink 2>/dev/null)" = speakers ] || fail "could not make the null sink the default"
    exit 0 ;;
  env) lane_env ;;
  stop)
    stop_all
    rm -rf "$run" "$dir/alsa.conf" ;;
  *) echo "usage: $0 start|env|stop" >&2; exit 2 ;;
esac
