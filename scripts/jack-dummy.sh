#!/usr/bin/env bash
# Start/stop a JACK server on the dummy driver: a real PortAudio device with real timing and no sound card.
# 24 kHz (Kokoro's rate) and 256-frame periods (the player's block), one capture and two playback ports.
set -u
pidfile=${VOICETRACE_JACK_PIDFILE:-/tmp/voicetrace-jackd.pid}
log=${VOICETRACE_JACK_LOG:-/tmp/voicetrace-jackd.log}
export JACK_NO_AUDIO_RESERVATION=1 JACK_NO_START_SERVER=1
running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
case "${1:-}" in
  start)
    running && exit 0
    for rt in "-R -P 70" "-r"; do   # realtime when allowed, else plain scheduling
      # shellcheck disable=SC2086
      nohup jackd $rt -n default -d dummy -r 24000 -p 256 -C 1 -P 2 >"$log" 2>&1 &
      echo $! >"$pidfile"
      for _ in $(seq 50); do
        if jack_lsp >/dev/null 2>&1 || grep -q "JACK server starting" "$log"; then sleep 0.3; running && exit 0; fi
        running || break
        sleep 0.1
      done
      kill "$(cat "$pidfile")" 2>/dev/null
    done
    echo "jack-dummy: jackd did not start; see $log" >&2; cat "$log" >&2; exit 1 ;;
  stop)
    running || exit 0
    pid=$(cat "$pidfile"); kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null; rm -f "$pidfile" ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
