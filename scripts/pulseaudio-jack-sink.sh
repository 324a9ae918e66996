#!/usr/bin/env bash
# A private PulseAudio whose default sink is a JACK client on the test lane's jackd (module-jack-sink), for
# checking VoiceTrace's figures on PulseAudio by hand: the app plays to ALSA's `default` → PulseAudio's ALSA
# plugin → the sink → JACK, where `bench --observe`'s recorder reads the sink's own ports.
# Not part of `make test`: it needs `apt install pulseaudio pulseaudio-module-jack libasound2-plugins`, and
# libasound2-plugins links /etc/alsa/conf.d/99-pulse.conf, which makes ALSA's `default` PulseAudio for the whole
# machine whenever a PulseAudio server answers (docs/measurements.md, "On PipeWire": per sound stack).
#   JACK_DEFAULT_SERVER=voicetrace-test bash scripts/jack-dummy.sh start
#   pulseaudio-jack-sink.sh start     then:  eval "$(pulseaudio-jack-sink.sh env)"
#   voicetrace bench --compare --observe --device default --texts short,sentence
#   pulseaudio-jack-sink.sh stop
set -eu
d=${VOICETRACE_PA_LANE:-${TMPDIR:-/tmp}/voicetrace-pulseaudio-lane}
lib=/usr/lib/$(uname -m)-linux-gnu/alsa-lib
lane_env() {
  echo "export XDG_RUNTIME_DIR=$d/run HOME=$d ALSA_CONFIG_PATH=$d/alsa.conf" \
       "JACK_DEFAULT_SERVER=${JACK_DEFAULT_SERVER:-voicetrace-test}"
}
case "${1:-}" in
  start)
    mkdir -p "$d/run"; chmod 700 "$d/run"
    eval "$(lane_env)"
    export JACK_NO_START_SERVER=1
    cat >"$d/default.pa" <<PA
load-module module-native-protocol-unix
load-module module-jack-sink sink_name=speakers client_name=PulseAudioSink channels=2 connect=no
set-default-sink speakers
PA
    cat >"$d/alsa.conf" <<CONF
</usr/share/alsa/alsa.conf>
pcm_type.pulse { lib "$lib/libasound_module_pcm_pulse.so" }
ctl_type.pulse { lib "$lib/libasound_module_ctl_pulse.so" }
pcm.!default { type pulse }
ctl.!default { type pulse }
CONF
    nohup pulseaudio -n --daemonize=no --exit-idle-time=-1 --log-target=stderr -F "$d/default.pa" \
      >"$d/pulse.log" 2>&1 &
    echo $! >"$d/pulse.pid"
    for _ in $(seq 50); do pactl info >/dev/null 2>&1 && exit 0; sleep 0.1; done
    echo "pulseaudio-jack-sink: PulseAudio did not answer (see $d/pulse.log)" >&2; exit 1 ;;
  env) lane_env ;;
  stop)
    [ -f "$d/pulse.pid" ] && kill "$(cat "$d/pulse.pid")" 2>/dev/null || true
    rm -rf "$d" ;;
  *) echo "usage: $0 start|env|stop" >&2; exit 2 ;;
esac
