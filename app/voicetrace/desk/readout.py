"""What the window says, in words: the readout under the buttons, the presenter view's big figures, the
streamed-text status, the barge-in demo's summary, the reading progress and the status bar's lines. Pure functions
of records and states (no Qt), so a figure is formatted one way wherever the window shows it."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from ..contract import RequestMetrics
from ..core.report import distribution
from ..core.timeline import Timeline
from .demo import BargeInDemo, DemoResult

GOOD, BAD = "#3ecf8e", "#ff5c5c"
ENGINE_STEPS = {"not started": 0, "created": 0, "loading": 1, "warming": 2, "ready": 3, "error": 3}
# What the output a canceller was picked for means to the user (the voice row's "listening (…)").
VOICE_MODES = {"off": "headphones", "aec3": "speakers: AEC3 cancels its own voice",
               "gate": "speakers: echo gate, no AEC3"}
AEC3_LEARNING = "listening (speakers: AEC3 is learning the room — talk over it after its first seconds)"
MIC_STOPPED = "the microphone stopped (unplugged?): untick and tick to reopen it"
# What `auto` decided, as the window says it (desk.core.VoiceState.route)
ROUTE_TEXT = {"direct": "listening (the microphone does not hear the app: it reads your voice as it is)",
              "undecided": "listening (finding out whether the microphone hears the app; AEC3 meanwhile)"}


def voice_listening(route: str, canceller: str, adapting: bool) -> str:
    """The barge-in row's text while it listens: which way the microphone is read, and whether it is armed."""
    if canceller == "off":
        return f"listening ({VOICE_MODES['off']})"
    if route == "aec3":
        return AEC3_LEARNING if adapting else f"listening ({VOICE_MODES['aec3']})"
    return ROUTE_TEXT.get(route, f"listening ({VOICE_MODES.get(canceller, canceller)})")


def ms(x: float | None) -> str:
    """A duration in whole milliseconds, or a dash where it was not measured."""
    return "—" if x is None else f"{x:.0f} ms"


def readout_html(records: list[RequestMetrics]) -> str:
    """The last request's figures, with the median TTFA of its engine so far (rich text)."""
    last = records[-1]
    parts = [f"<b>{last.engine}</b> {last.outcome}",
             f"TTFA audible <b>{'≈' if last.dac_time_estimated else ''}{ms(last.ttfa_audible_ms)}</b> "
             f"(callback {ms(last.ttfa_callback_ms)}"
             + (", first phrase from the cache)" if last.first_chunk_cached else ")"),
             "RTF " + ("—" if last.rtf is None else f"{last.rtf:.3f}"),
             f"underruns {last.underruns}"]
    med = distribution(r.ttfa_audible_ms for r in records if r.engine == last.engine)
    if med["n"]:
        parts.append(f"median {ms(med['median'])} of {med['n']}")
    if last.cancelled:
        stale = last.stale_samples_after_cancel
        parts.append("<br>" + f"cancel→silence <b>{'≈' if last.dac_time_estimated else ''}"
                     f"{ms(last.cancel_to_silence_ms)}</b> · "
                     f"cancel→idle <b>{ms(last.cancel_to_idle_ms)}</b> · stale samples "
                     + (f"{stale}" if stale == 0 else f"<span style='color:{BAD}'>{stale}</span>"))
    b = last.barge_in
    if b and b.trigger_ms is not None and b.speech_onset_ms is not None and b.true_onset_ms is not None:
        parts.append("<br>" + f"voice barge-in ({b.canceller}): you spoke → silence "
                     f"<b>{ms(b.onset_to_silence_ms)}</b> "
                     f"(heard after {ms(b.speech_onset_ms - b.true_onset_ms)}, decided after "
                     f"{ms(b.trigger_ms - b.true_onset_ms)}, cancel→silence "
                     f"{ms(last.cancel_to_silence_ms)})")
    if last.dac_time_estimated:
        parts.append(f"<br>≈ {last.dac_time_estimated}")
    return " · ".join(parts).replace(" · <br>", "<br>")


def stream_status_html(rec: RequestMetrics) -> str:
    """A streamed request's figures: first text → audible, starvation, and what was heard before a cut."""
    parts = [f"first text → audible <b>{ms(rec.ttfa_from_first_text_ms)}</b> (first text "
             f"{ms(rec.t_first_text_ms)} after the click)",
             f"starved {rec.text_starvations}× ({ms(rec.text_starvation_ms)}) · underruns {rec.underruns}"]
    if rec.cancelled:
        est = "" if rec.heard_exact else " (estimated inside the last phrase)"
        parts.append(f"heard{est}: “{html.escape(rec.heard_text or '')}” ({ms(rec.heard_ms)})")
    return "<br>".join(parts)


@dataclass(frozen=True)
class PresenterFigures:
    """The presenter view's figures; None: leave what shows (no request was cancelled yet)."""
    ttfa: str
    silence: str | None
    stale: int | None
    summary: str


def presenter_figures(records: list[RequestMetrics]) -> PresenterFigures:
    last = records[-1]
    cancels = [r for r in records if r.cancelled]
    silence = ms(cancels[-1].cancel_to_silence_ms) if cancels else None
    stale = cancels[-1].stale_samples_after_cancel if cancels else None
    med = distribution(r.ttfa_audible_ms for r in records if r.engine == last.engine)
    sil = distribution(r.cancel_to_silence_ms for r in cancels)
    parts = [f"{last.engine}: {len(records)} requests"]
    if med["n"]:
        parts.append(f"TTFA median {med['median']:.0f} ms")
    if sil["n"]:
        parts.append(f"{sil['n']} interrupts, cancel → silence median {sil['median']:.0f} ms")
    return PresenterFigures(ms(last.ttfa_audible_ms), silence, stale, "  ·  ".join(parts))


def _distribution_html(d: dict[str, Any]) -> str:
    if not d.get("n"):
        return "—"
    return f"median <b>{d['median']:.1f}</b> · p95 {d['p95']:.1f} · max {d['max']:.1f} ms"


def demo_summary_html(r: DemoResult) -> str:
    stale = (f"<span style='color:{GOOD}'>0 ✓</span>" if r.stale_samples == 0
             else f"<span style='color:{BAD}'>{r.stale_samples} ✗</span>")
    extra = f" · {r.finished_early} ended before their interrupt" if r.finished_early else ""
    failed = f" · <span style='color:{BAD}'>{len(r.failed)} failed: {r.failed[0]}</span>" if r.failed else ""
    return (f"<b>{r.interrupted} of {r.rounds} rounds interrupted</b>{extra}{failed}<br>"
            f"cancel → silence: {_distribution_html(r.cancel_to_silence)}<br>"
            f"cancel → engine idle: {_distribution_html(r.cancel_to_idle)}<br>"
            f"stale samples after the acknowledgement: {stale}")


def demo_status_html(d: BargeInDemo) -> str:
    """The demo's round while it runs, then why it stopped or its summary."""
    if not d.finished.is_set():
        return f"Round {d.done_rounds + 1} of {d.cfg.rounds}…"
    if d.error is not None:
        return f"<b>The demo stopped:</b> {d.error}"
    assert d.result is not None  # finished without an error
    return demo_summary_html(d.result)


def progress_line(tl: Timeline, now_ms: float, paused: bool) -> str:
    """Where the listener is in the request: phrases begun, words heard, seconds played."""
    heard = tl.words_heard(now_ms)
    played_s = tl.audio_played_ms(now_ms) / 1000
    state = "finished" if tl.end_ms is not None else "paused" if paused else "speaking"
    begun = {tl.phrase_of(i) for i, (a, _) in tl.play.items() if a <= now_ms}  # a phrase may be in pieces
    return (f"{state}: phrase {len(begun)} of {len(tl.phrases)} planned · words {heard}/{tl.total_words}"
            f" · {played_s:.1f} s played")


def engine_line(title: str, state: str, remote: bool, busy: bool, paused: bool) -> str:
    """The status bar's word for the chosen engine."""
    words = {"not started": "not connected" if remote else "not loaded", "created": "starting",
             "loading": "connecting…" if remote else "loading the model…",
             "warming": "warming up…", "ready": "ready", "error": "error"}
    if state == "ready" and busy:
        return f"{title}: {'paused' if paused else 'speaking'}"
    return f"{title}: {words.get(state, state)}"


def engine_error(title: str, error: str, remote: bool) -> str:
    """What the banner says when the chosen engine failed, and what to do."""
    if remote:
        return (f"{title}: {error}\nCheck the URL and token, or start the server (`voicetrace serve`), then "
                "press Connect.")
    return (f"{title} failed to load: {error}\nChoose another engine; `voicetrace models --verify` checks the model "
            "files.")
