"""The desktop window (PySide6 + pyqtgraph). Imports Qt: only loaded by `voicetrace app`."""
