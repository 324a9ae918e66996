#!/usr/bin/env bash
# Start/stop the test lane's JACK server on the dummy driver: a real PortAudio device with real timing and no
# sound card. 24 kHz (Kokoro's rate) and 256-frame periods (the player's block), one capture and two playback
# ports. It runs under a name of its own ($JACK_DEFAULT_SERVER, default "voicetrace-test"), never "default": a
# user's own JACK server (a musician's desktop, or one another program left running) is neither needed, used
# nor stopped. Test processes reach ours through JACK_DEFAULT_SERVER, which libjack (PortAudio, JACK-Client,
# jack_lsp) reads.
set -u
name=${JACK_DEFAULT_SERVER:-voicetrace-test}
export JACK_DEFAULT_SERVER=$name JACK_NO_AUDIO_RESERVATION=1 JACK_NO_START_SERVER=1
pidfile=${VOICETRACE_JACK_PIDFILE:-/tmp/voicetrace-jackd-$name.pid}
log=${VOICETRACE_JACK_LOG:-/tmp/voicetrace-jackd-$name.log}
ours() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
alive() { jack_lsp -s "$name" >/dev/null 2>&1; }
case "${1:-}" in
  start)
    ours && exit 0
    if alive; then  # a server of this name that we did not start: use it, leave it be
      echo "jack-dummy: a JACK server named '$name' is already running; the tests use it (it is not stopped after)" >&2
      exit 0
    fi
    rm -f "$pidfile"
    for rt in "-R -P 70" "-r"; do   # realtime when allowed, else plain scheduling
      # shellcheck disable=SC2086
      nohup jackd $rt -n "$name" -d dummy -r 24000 -p 256 -C 1 -P 2 >"$log" 2>&1 &
      echo $! >"$pidfile"
      for _ in $(seq 50); do
        if alive; then sleep 0.3; ours && exit 0; fi
        ours || break
        sleep 0.1
      done
      kill "$(cat "$pidfile")" 2>/dev/null
      rm -f "$pidfile"
    done
    echo "jack-dummy: could not start the test lane's JACK server '$name' (jackd -n $name -d dummy); its log ($log):" >&2
    cat "$log" >&2
    echo "jack-dummy: no other JACK server was touched. Is jackd installed (Debian: jackd2)?" >&2
    exit 1 ;;
  stop)
    ours || exit 0  # only a server this script started (its pid file) is ever stopped
    pid=$(cat "$pidfile"); kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null; rm -f "$pidfile" ;;
  name) echo "$name" ;;
  *) echo "usage: $0 start|stop|name" >&2; exit 2 ;;
esac
