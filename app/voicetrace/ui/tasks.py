"""Blocking calls (PortAudio listing or opening a device, a microphone) run off the Qt thread; their result comes
back to the Qt thread through a queued signal, never by touching widgets from the helper thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6 import QtCore


class Background(QtCore.QObject):
    """Runs `work` on a daemon thread, then `then(result, error)` on the Qt thread: the result and "" when it
    returned, None and the exception's text when it raised (the window shows it; the app keeps working)."""
    _done = QtCore.Signal(object, object, str)  # (then, result, error): queued, as emitted off the Qt thread

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._done.connect(self._deliver)  # a method of this Qt-thread object: queued across threads

    @QtCore.Slot(object, object, str)
    def _deliver(self, then: Callable[[Any, str], None], result: Any, error: str) -> None:
        then(result, error)

    def run(self, name: str, work: Callable[[], Any], then: Callable[[Any, str], None] | None = None) -> None:
        def main() -> None:
            try:
                result = work()
            except Exception as exc:  # handed to `then`: shown in the window
                if then is not None:
                    self._done.emit(then, None, str(exc))
                return
            if then is not None:
                self._done.emit(then, result, "")

        threading.Thread(target=main, name=name, daemon=True).start()
