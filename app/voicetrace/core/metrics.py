"""Metrics derived from a request's trace, exactly as docs/metrics.md defines them. Nothing is estimated:
a metric whose event did not happen is None."""

from __future__ import annotations

from ..contract import (
    BargeIn,
    BargeInMetrics,
    Cancel,
    CancelAck,
    ChunkMetrics,
    ChunkReady,
    Done,
    EngineIdle,
    Failed,
    FlushSeen,
    IgnoredVoice,
    Pause,
    PhrasePlanned,
    Piece,
    Play,
    Remote,
    RequestMetrics,
    Resume,
    Submit,
    SynthEnd,
    SynthStart,
    Text,
    TextWait,
    TraceEvent,
    Underrun,
    VoiceIgnored,
)
from .trace import E, Trace


def _ms(t_ns: int | None, t0: int) -> float | None:
    return None if t_ns is None else round((t_ns - t0) / 1e6, 3)


def derive(trace: Trace) -> RequestMetrics:
    ev = trace.events
    submit = next(e for e in ev if isinstance(e, Submit))
    t0 = submit.t_ns
    rate = submit.device_rate
    plays = [e for e in ev if isinstance(e, Play)]
    audible = [e for e in plays if e.n > 0]

    first = audible[0] if audible else None
    ttfa_cb = _ms(first.t_cb_ns, t0) if first else None
    ttfa_dac = _ms(first.dac_ns, t0) if first else None

    # First voiced sample (> -40 dBFS): the piece of the chunk holding it gives its DAC time.
    ttfa_voiced = None
    ready = {e.index: e for e in ev if isinstance(e, ChunkReady)}
    for idx in sorted(ready):
        off = ready[idx].voiced_offset
        if off < 0:
            continue
        for p in audible:
            if p.index == idx and p.chunk_offset <= off < p.chunk_offset + p.n:
                ttfa_voiced = _ms(p.dac_ns + int((off - p.chunk_offset) * 1e9 / rate), t0)
                break
        break

    synth_end = [e for e in ev if isinstance(e, SynthEnd)]
    # A remote server that does not report compute time (plain OpenAI-compatible HTTP) leaves it None: RTF
    # is then unknown, not zero.
    compute_known = all(e.compute_ns is not None for e in synth_end)
    compute_ns = sum(e.compute_ns or 0 for e in synth_end)
    audio_s = sum(e.samples / e.rate for e in synth_end)
    rtf = round(compute_ns / 1e9 / audio_s, 4) if audio_s > 0 and compute_known else None

    server_ttfa = network = None
    remote_first = next((e for e in ev if isinstance(e, Remote) and e.what == "first_audio"), None)
    if remote_first is not None and remote_first.server_ttfa_ms is not None and synth_end:
        server_ttfa = float(remote_first.server_ttfa_ms)
        network = round((synth_end[0].t_ns - t0) / 1e6 - server_ttfa, 3)

    planned = {e.index: e for e in ev if isinstance(e, PhrasePlanned)}
    starts = {e.index: e.t_ns for e in ev if isinstance(e, SynthStart)}
    ends = {e.index: e.t_ns for e in synth_end}
    first_play: dict[int, int] = {}
    for p in audible:
        first_play.setdefault(p.index, p.t_cb_ns)
    pieces = piece_map(ev)
    chunks = []
    prev_ready: int | None = None
    for idx in sorted(ready):
        r = ready[idx].t_ns
        pl = first_play.get(idx)
        # A phrase made in pieces: its words and its synthesis (first piece to last) on its first chunk.
        ph, offset = pieces.get(idx, (idx, 0))
        synth = (ends[ph] - starts[ph]) / 1e6 if ph in ends and ph in starts and offset == 0 else None
        chunks.append(ChunkMetrics(
            idx, planned[ph].words if ph in planned and offset == 0 else 0,
            round(synth, 3) if synth is not None else None, _ms(r, t0), _ms(pl, t0),
            round((pl - r) / 1e6, 3) if pl is not None else None,
            round((r - prev_ready) / 1e6, 3) if prev_ready is not None else None,
            ready[idx].samples))
        prev_ready = r

    # The ring ran dry: for want of text (streamed input: the pipeline was waiting for it, or making the phrase
    # the late text allowed) is starvation; otherwise synthesis was late, an underrun. Different faults.
    waits = text_waits(ev, ready)
    dry = [e for e in ev if isinstance(e, Underrun)]
    starved = [e for e in dry if any(a <= e.t_ns < b for a, b in waits)]
    unders = [e for e in dry if e not in starved]
    cancel = _first(ev, Cancel)
    flush = _first(ev, FlushSeen)
    idle = _first(ev, EngineIdle)
    ack = _first(ev, CancelAck)
    to_silence = to_idle = latency = None
    silence_at: int | None = None
    stale = 0
    if cancel is not None:
        if flush is not None:
            # Silence starts after the last sounding sample of this request sent up to and including the
            # flushing callback (the end of the fade). If the ring had run dry, or what played was a chunk's
            # trailing punctuation pause (zeros), silence began then — at the cancel at the latest: the
            # independent observer showed 14–37 ms of difference when this counted to the flushing callback.
            # Nothing ever played: the flushing callback.
            sent = [p for p in audible if p.t_cb_ns <= flush.t_cb_ns]
            sounding = [e for e in (_sound_end_dac(p, ready, rate) for p in sent) if e is not None]
            silence_dac = (max(max(sounding), cancel.t_ns) if sounding
                           else cancel.t_ns if sent else flush.dac_ns)
            to_silence = _ms(silence_dac, cancel.t_ns)
            silence_at = silence_dac
            stale += sum(p.n for p in plays if p.t_cb_ns >= flush.t_cb_ns and not p.faded)
        if idle is not None:
            to_idle = _ms(idle.t_ns, cancel.t_ns)
        if to_silence is not None and to_idle is not None:
            latency = max(to_silence, to_idle)
        if ack is not None:
            stale += sum(p.n for p in plays if p.t_cb_ns > ack.t_ns and p.faded)

    cache: dict[str, dict[str, int]] = {}
    for e in synth_end:
        for name, hit in e.cache:
            c = cache.setdefault(name, {"hits": 0, "lookups": 0})
            c["lookups"] += 1
            c["hits"] += int(hit)

    first_end = next((e for e in synth_end if e.index == 0), None)
    first_cached = first_end is not None and any(name == "phrase_audio" and hit for name, hit in first_end.cache)

    failed = _first(ev, Failed)
    # The session records exactly one terminal event per request.
    done = _first(ev, Done)
    outcome = ("failed" if failed else "cancelled" if ack else "done" if done else "running")
    # The sink's own fault counters, read at submit and at the end: lost callback records make the playback
    # figures incomplete, so they are reported with them.
    end = failed or ack or done
    lost = errors = 0
    if end is not None and end.events_lost is not None and end.callback_errors is not None:
        lost = end.events_lost - submit.events_lost
        errors = end.callback_errors - submit.callback_errors
    first_ready = min((e.t_ns for e in ev if isinstance(e, ChunkReady)), default=None)
    texts = [e for e in ev if isinstance(e, Text)]
    streamed = submit.stream_input
    t_first_text = next((e.t_ns for e in texts if e.piece), None)
    first_planned = planned.get(0)
    completed_by = None
    if streamed and first_planned is not None:
        completed_by = next((e.piece for e in texts if e.t_ns == first_planned.text_ns), None)
    heard_text, heard_ms, heard_exact = heard(ev, planned, ready, rate, silence_at)
    paused_ms, pauses = paused(ev, flush.dac_ns if flush is not None else None)
    return RequestMetrics(
        request_id=trace.request_id, engine=submit.engine, voice=submit.voice,
        text_chars=texts[-1].chars if streamed and texts else submit.text_chars,
        outcome=outcome,
        ttfa_callback_ms=ttfa_cb, ttfa_audible_ms=ttfa_dac, ttfa_voiced_ms=ttfa_voiced, rtf=rtf,
        audio_ms=round(audio_s * 1000, 3), compute_ms=round(compute_ns / 1e6, 3), chunks=chunks,
        underruns=len(unders), underrun_ms=round(sum(e.frames for e in unders) * 1000 / rate, 3),
        cancelled=cancel is not None, cancel_to_silence_ms=to_silence, cancel_to_idle_ms=to_idle,
        cancellation_latency_ms=latency, stale_samples_after_cancel=stale, cache=cache,
        error=failed.error if failed else None, first_chunk_cached=first_cached,
        first_chunk_ms=_ms(first_ready, t0), events_lost=lost, callback_errors=errors,
        server_ttfa_ms=server_ttfa, network_ms=network, barge_in=barge_in_metrics(ev, t0, silence_at),
        stream_input=streamed, t_first_text_ms=_ms(t_first_text, t0),
        ttfa_from_first_text_ms=_ms(first.dac_ns, t_first_text) if first and t_first_text else None,
        first_phrase_text=first_planned.text if first_planned is not None else None,
        first_phrase_completed_by=completed_by, text_starvations=len(starved),
        text_starvation_ms=round(sum(e.frames for e in starved) * 1000 / rate, 3),
        heard_text=heard_text, heard_ms=heard_ms, heard_exact=heard_exact, paused_ms=paused_ms, pauses=pauses)


def _first(ev: list[TraceEvent], kind: type[E]) -> E | None:
    return next((e for e in ev if isinstance(e, kind)), None)


def paused(ev: list[TraceEvent], flush_dac: int | None) -> tuple[float, int]:
    """(ms paused, pauses): from each PAUSE's first silent frame to the RESUME's first frame played again, at
    the DAC. A pause still open ends at the cancel's flush (nothing of it plays after), else at the last event."""
    total = 0
    count = 0
    start: int | None = None
    for e in ev:
        if isinstance(e, Pause) and start is None:
            start = e.dac_ns
            count += 1
        elif isinstance(e, Resume) and start is not None:
            total += max(0, e.dac_ns - start)
            start = None
    if start is not None:
        end = flush_dac if flush_dac is not None else ev[-1].t_ns
        total += max(0, end - start)
    return round(total / 1e6, 3), count


def _sound_end_dac(piece: Play, ready: dict[int, ChunkReady], rate: int) -> int | None:
    """DAC time just after the last non-zero sample in a PLAY piece; None if the piece is all silence (a chunk's
    leading or trailing pause: the observer found cancels charged 22–28 ms for those)."""
    chunk = ready.get(piece.index)
    start, end = piece.chunk_offset, piece.chunk_offset + piece.n
    if chunk is not None:
        end = min(end, chunk.sound_end if chunk.sound_end is not None else end)
        if max(start, chunk.sound_start) >= end:
            return None
    return int(piece.dac_ns + (end - piece.chunk_offset) * 1e9 / rate)


def barge_in_metrics(ev: list[TraceEvent], t0: int, silence_ns: int | None) -> BargeInMetrics | None:
    """From the listener's events: when the user spoke (VAD onset, true onset), when it decided, and true onset →
    silence, the latency a person talking over the app feels. What it ignored would each have been a false
    interruption without the minimum-speech and gate rules; `erle_db` is over the request while the app was
    audible and before the user spoke. The route fields are the listener's own state (`BargeInListener.ignored`)."""
    bi = _first(ev, BargeIn)
    ign = _first(ev, VoiceIgnored)
    if bi is None and ign is None:
        return None
    ignored = IgnoredVoice(ign.too_short if ign else 0, ign.own_voice if ign else 0)
    onsets: tuple[float | None, ...] = (None, None, None, None)
    if bi is not None:
        onsets = (_ms(bi.speech_onset_ns, t0), _ms(bi.true_onset_ns, t0), _ms(bi.t_ns, t0),
                  _ms(silence_ns, bi.true_onset_ns) if silence_ns else None)
    speech_onset, true_onset, trigger, onset_to_silence = onsets
    return BargeInMetrics(
        speech_onset_ms=speech_onset, true_onset_ms=true_onset, trigger_ms=trigger,
        onset_to_silence_ms=onset_to_silence,
        false_triggers=ignored.too_short + ignored.own_voice, ignored=ignored,
        canceller=(ign.canceller if ign else None) or (bi.canceller if bi else None),
        erle_db=ign.erle_db if ign else None,
        route=ign.route if ign else None, route_reason=ign.route_reason if ign else None,
        armed_ms=ign.armed_ms if ign else None, route_changes=ign.route_changes if ign else None)


def text_waits(ev: list[TraceEvent], ready: dict[int, ChunkReady]) -> list[tuple[int, int]]:
    """Streamed input: from when the pipeline ran out of text to when the chunk that text made was ready."""
    out: list[tuple[int, int]] = []
    start: int | None = None
    for e in ev:
        if not isinstance(e, TextWait):
            continue
        if e.state == "start":
            start = e.t_ns
        elif start is not None:
            nxt = ready.get(e.next_index) if e.next_index is not None else None
            out.append((start, nxt.t_ns if nxt is not None else e.t_ns))
            start = None
    if start is not None:
        out.append((start, ev[-1].t_ns + 1))
    return out


def piece_map(ev: list[TraceEvent]) -> dict[int, tuple[int, int]]:
    """chunk index → (its phrase, output samples of that phrase before it); a chunk not listed is its phrase
    whole (a remote source's)."""
    return {e.index: (e.phrase, e.offset) for e in ev if isinstance(e, Piece)}


def heard(ev: list[TraceEvent], planned: dict[int, PhrasePlanned], ready: dict[int, ChunkReady], rate: int,
          silence_dac: int | None) -> tuple[str | None, float | None, bool | None]:
    """What the listener heard before silence (docs/metrics.md, "Per request"): (the words, ms of audio played,
    exact?). A phrase whose sound was played to its end, or not at all, is exact; one cut inside its sound is
    estimated, by the share of its sound that played (words are not timed inside a phrase yet), and marked not exact.

    Inside a phrase a word's sound is taken to be as long as its characters' share of the phrase, and the word
    heard when the middle of that stretch was played (Whisper, on the independent recorder's audio, hears a
    word cut after its middle as said).

    A sink that plays reports what reached the DAC; one that does not (a socket, an iterator) only knows what
    it handed over, unless the cancel said how much of it the client played (`played_ms`, as OpenAI's
    truncate takes `audio_end_ms`)."""
    if not planned:
        return None, None, None
    submit = ev[0]
    played: dict[int, int] = {}
    total = 0
    if not isinstance(submit, Submit) or submit.sink_plays:
        for e in ev:
            if not isinstance(e, Play) or not e.n:
                continue
            n = e.n
            if silence_dac is not None:  # only what reached the DAC before silence
                n = max(0, min(n, int((silence_dac - e.dac_ns) * rate / 1e9)))
            played[e.index] = max(played.get(e.index, 0), e.chunk_offset + n)
            total += n
    else:
        cancel = _first(ev, Cancel)
        left = None
        if cancel is not None and cancel.played_ms is not None:
            left = int(float(cancel.played_ms) * rate / 1000)
        for idx in sorted(ready):
            n = ready[idx].samples
            if left is not None:
                n, left = min(n, left), max(0, left - n)
            played[idx] = n
            total += n
    # Per phrase, over its chunks: samples played from its start, where its sound starts and ends.
    pieces = piece_map(ev)
    got_of: dict[int, int] = {}
    sound: dict[int, tuple[int, int]] = {}
    times: dict[int, list[tuple[int, int]]] = {}
    for e in ev:
        if isinstance(e, Piece) and e.word_times:
            times[e.phrase] = list(e.word_times)
    for idx in sorted(ready):
        ph, offset = pieces.get(idx, (idx, 0))
        chunk = ready[idx]
        sound_end = chunk.sound_end if chunk.sound_end is not None else chunk.samples
        a, b = offset + chunk.sound_start, offset + sound_end
        if sound_end > chunk.sound_start:  # a chunk with sound
            old = sound.get(ph)
            sound[ph] = (min(a, old[0]), max(b, old[1])) if old else (a, b)
        if played.get(idx, 0):
            got_of[ph] = max(got_of.get(ph, 0), offset + played[idx])
    made = {ph for ph, _ in pieces.values()} | {idx for idx in ready if idx not in pieces}
    # A phrase still being made when the cancel came has played to the end of its pieces so far, not its end.
    closed = {e.index for e in ev if isinstance(e, SynthEnd)} if pieces else made
    words: list[str] = []
    exact = True
    for idx in sorted(planned):
        text = planned[idx].text
        if idx not in made:
            break
        got = got_of.get(idx, 0)
        a, b = sound.get(idx, (0, 0))
        if got >= b and idx in closed:
            words += text.split()
            continue
        if got > a or idx not in closed:  # cut inside its sound (else none of its sound played: exact)
            timed = times.get(idx)
            if timed is not None and len(timed) == len(text.split()):  # the engine's own word times
                words += [w for w, (s, t) in zip(text.split(), timed, strict=True) if (s + t) / 2 <= got]
            else:
                words += _words_within(text.split(), (got - a) / max(1, b - a))
                exact = False
        break
    return " ".join(words), round(total * 1000 / rate, 3), exact


def _words_within(words: list[str], share: float) -> list[str]:
    """The words whose estimated middle lies within the first `share` of the phrase (by characters)."""
    total = sum(len(w) + 1 for w in words)
    out: list[str] = []
    pos = 0
    for w in words:
        if (pos + (len(w) + 1) / 2) / total > share:
            break
        out.append(w)
        pos += len(w) + 1
    return out
