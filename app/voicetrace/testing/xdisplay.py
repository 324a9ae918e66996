"""A desktop with nobody at it: Xvfb at a given size with the openbox window manager (without one, keyboard focus
never reaches a window), for the window's tests and `voicetrace bench --suite window`. The window is measured
here, not offscreen: painting to X costs the Qt thread what offscreen painting does not."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Desktop:
    env: dict[str, str]  # this process's environment, with DISPLAY set and Qt not told to draw offscreen
    xserver_pid: int


def missing_tools(*extra: str) -> list[str]:
    return [t for t in ("Xvfb", "openbox", *extra) if shutil.which(t) is None]


@contextmanager
def virtual_desktop(width: int = 1280, height: int = 720) -> Iterator[Desktop]:
    """Xvfb on the first free display (it says which through a pipe) with openbox on it; both ended after."""
    if missing := missing_tools():
        raise RuntimeError(f"{', '.join(missing)} missing: `make setup-test` installs xvfb and openbox")
    r, w = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", f"{width}x{height}x24", "-nolisten",
                             "tcp"], pass_fds=(w,), stderr=subprocess.DEVNULL)
    os.close(w)
    with os.fdopen(r) as fh:
        display = ":" + fh.readline().strip()
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env["DISPLAY"] = display
    wm = subprocess.Popen(["openbox", "--sm-disable"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # openbox takes the screen before a window maps (else the first window goes unmanaged)
    try:
        yield Desktop(env, xvfb.pid)
    finally:
        for p in (wm, xvfb):
            p.terminate()
            p.wait(10)
