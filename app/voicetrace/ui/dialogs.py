"""The window's file dialogs and About box. Each dialog returns the path chosen, or "" when it was cancelled."""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtWidgets

from .. import __version__

SPEECH_FORMATS = "WAV (*.wav);;FLAC (*.flac);;OGG Vorbis (*.ogg);;Opus (*.opus);;MP3 (*.mp3)"


def text_file(parent: QtWidgets.QWidget) -> str:
    path, _ = QtWidgets.QFileDialog.getOpenFileName(parent, "Open text", "", "Text (*.txt *.md);;All files (*)")
    return path


def speech_file(parent: QtWidgets.QWidget) -> str:
    path, chosen = QtWidgets.QFileDialog.getSaveFileName(parent, "Save speech as", "speech.wav", SPEECH_FORMATS)
    if path and not Path(path).suffix and chosen:  # a name typed without its extension: the filter's
        path += "." + chosen.split("*.")[1].rstrip(")")
    return path


def export_file(parent: QtWidgets.QWidget, kind: str) -> str:
    path, _ = QtWidgets.QFileDialog.getSaveFileName(parent, "Export metrics", f"voicetrace-metrics.{kind}",
                                                    f"{kind.upper()} (*.{kind})")
    return path


def about(parent: QtWidgets.QWidget) -> None:
    QtWidgets.QMessageBox.about(
        parent, "About VoiceTrace",
        f"<b>VoiceTrace {__version__}</b><p>Streaming local text-to-speech that measures its own latency: "
        "time to first audio, chunk cadence, underruns and barge-in.</p><p>GPL-3.0-or-later. Kokoro-82M "
        "weights Apache-2.0, Piper joe voice CC0, espeak-ng GPL-3.0.</p>")
