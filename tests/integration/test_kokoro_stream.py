"""Kokoro decoded in pieces on the real packaged model: the graph cut once and cached, the pieces' audio against
the whole call (loudness of the first 300 ms of voice, length), word times from the durations, a cancel between
pieces, a stale or corrupt cached cut rebuilt, and a graph that cannot be cut falling back to the whole graph.
Played through the session on the JACK device, each piece is a chunk and heard text comes from word times."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from voicetrace.contract import Piece, Play
from voicetrace.engines import kokoro_graph as kg
from voicetrace.errors import SynthesisCancelled

pytestmark = pytest.mark.models

SENTENCE = "Before the meeting starts, please read the notes I sent you yesterday."


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)) + 1e-12))


def _voice_start(x: np.ndarray) -> int:
    return int(np.flatnonzero(np.abs(x) > 10 ** (-40 / 20))[0])


def test_pieces_sound_like_the_whole_call_and_carry_word_times(kokoro_source):
    eng = kokoro_source.engine
    assert eng.can_stream and eng.split_notice is None
    pieces = list(eng.synthesize_pieces(SENTENCE, eng.default_voice, 1.0, use_cache=False))
    whole = list(eng.synthesize_pieces(SENTENCE, eng.default_voice, 1.0, use_cache=False, stream=False))
    assert len(pieces) >= 2 and len(whole) == 1
    assert [p.last for p in pieces] == [False] * (len(pieces) - 1) + [True]
    streamed, ref = np.concatenate([p.audio for p in pieces]), whole[0].audio
    # the pieces skip most of the leading pad (~375 ms computed and trimmed by the whole call), nothing else
    skipped = len(ref) - len(streamed)
    assert 0.1 * eng.rate < skipped < 0.45 * eng.rate
    a, b = _voice_start(streamed), _voice_start(ref)
    first = _rms(streamed[a:a + int(0.3 * eng.rate)]) / _rms(ref[b:b + int(0.3 * eng.rate)])
    assert 0.75 < first < 1.33, f"the first 300 ms of voice at {first:.2f}× the whole call's loudness"
    assert 0.75 < _rms(streamed[a:]) / _rms(ref[b:]) < 1.33
    times = pieces[0].word_times
    assert times is not None and len(times) == len(SENTENCE.split())
    assert all(s < e for s, e in times) and all(times[i][1] <= times[i + 1][0] for i in range(len(times) - 1))
    assert times[-1][1] <= len(streamed)
    assert abs(times[0][0] - a) < 0.1 * eng.rate  # the first word starts where the voice does


def test_a_cancel_between_pieces_stops_the_phrase_and_the_engine_serves_the_next(kokoro_source):
    eng = kokoro_source.engine
    got: list[int] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            for p in eng.synthesize_pieces(SENTENCE + " " + SENTENCE, eng.default_voice, 1.0, use_cache=False):
                got.append(len(p.audio))
                if len(got) == 1:
                    eng.cancel()  # as the worker does, from another thread, while the next piece runs
        except SynthesisCancelled as exc:
            error.append(exc)

    eng.clear_cancel()  # the worker is idle (nothing submitted): its engine runs on this test's threads
    t = threading.Thread(target=run)
    t.start()
    t.join(30)
    assert len(got) == 1 and error, "no piece after the cancel"
    eng.clear_cancel()
    after = list(eng.synthesize_pieces("Still here.", eng.default_voice, 1.0, use_cache=False))
    assert after and sum(len(p.audio) for p in after) > 0


def test_the_cut_is_cached_and_a_corrupt_one_is_rebuilt(kokoro_source, tmp_path):
    model = kokoro_source.engine.entry.path("model")
    split = kg.load_or_split(model, tmp_path / "cut")
    assert split is not None and len(split.stats) == 88
    mtime = split.front.stat().st_mtime_ns
    again = kg.load_or_split(model, tmp_path / "cut")
    assert again == split and split.front.stat().st_mtime_ns == mtime  # read from the cache, not cut again
    with open(split.fed, "r+b") as fh:  # truncated (a full disk, an interrupted write)
        fh.truncate(1000)
    rebuilt = kg.load_or_split(model, tmp_path / "cut")
    assert rebuilt is not None and rebuilt.fed.stat().st_size > 1_000_000


def test_a_graph_that_cannot_be_cut_falls_back_to_the_whole_graph(kokoro_source, piper_source, tmp_path,
                                                                   monkeypatch):
    """Another graph (Piper's) is not cut; a Kokoro graph whose tensors are named otherwise runs whole, phrase
    at a time, with one notice; a file that is no graph at all is a clear error."""
    from dataclasses import replace

    import onnx

    from voicetrace.engines.catalog import ModelFile
    from voicetrace.engines.kokoro import KokoroEngine
    from voicetrace.errors import ModelError

    assert kg.load_or_split(piper_source.engine.entry.path("model"), tmp_path / "x") is None
    monkeypatch.setenv("VOICETRACE_CACHE_DIR", str(tmp_path / "cache"))
    entry = kokoro_source.engine.entry
    m = onnx.load(str(entry.path("model")))
    for n in m.graph.node:  # another export: the durations tensor has another name
        n.input[:] = [i.replace(kg.DURATIONS, "/encoder/durations") for i in n.input]
        n.output[:] = [o.replace(kg.DURATIONS, "/encoder/durations") for o in n.output]
    renamed = tmp_path / "kokoro-renamed.onnx"
    onnx.save(m, str(renamed))

    def engine(path):
        files = dict(entry.files)
        files["model"] = ModelFile("model", path, None, "user")
        return KokoroEngine(replace(entry, files=files, packaged=False))

    eng = engine(renamed)
    eng._load()
    assert not eng.can_stream and eng.split_notice is not None and "phrase at a time" in eng.split_notice
    pieces = list(eng.synthesize_pieces("Still speaking.", eng.default_voice, 1.0))
    assert len(pieces) == 1 and len(pieces[0].audio) > 0.3 * eng.rate
    bogus = tmp_path / "bogus.onnx"
    bogus.write_bytes(b"not a graph")
    with pytest.raises(ModelError, match="cannot be loaded"):
        engine(bogus)._load()


@pytest.mark.audio
def test_played_in_pieces_each_piece_is_a_chunk_and_heard_text_is_timed(kokoro_source, player):
    from voicetrace.core.session import Session

    session = Session(player, {"kokoro": kokoro_source})
    try:
        first = session.submit(SENTENCE, "kokoro")
        done = first.result(timeout=60)
        req = session.submit(SENTENCE + " And one more sentence after it, to be cut.", "kokoro")
        deadline = time.time() + 30
        while time.time() < deadline and not any(e.n for e in req.trace.of(Play)):
            time.sleep(0.01)
        time.sleep(0.9)
        req.cancel()
        cut = req.result(timeout=30)
    finally:
        session.close()
    assert done.outcome == "done" and cut.outcome == "cancelled"
    pieces = first.trace.of(Piece)
    assert len(done.chunks) > 1 and any(p.offset > 0 for p in pieces)  # the first phrase came in pieces
    assert cut.stale_samples_after_cancel == 0
    assert cut.heard_exact is True and cut.heard_text and SENTENCE.startswith(cut.heard_text)

