"""A single-producer, single-consumer ring of float32 samples tagged by request.

The writer (a session thread) appends *segments*: a run of samples of one chunk of one request. The reader
(the audio callback) copies samples out, and reports each piece it copies so the trace knows exactly which
request and chunk reached the device, and when. Nothing here takes a lock: the writer only moves the write
side (`_seg_w`), the reader only the read side (`_r`, `_seg_r`), and a cancelled request is marked dead in a
bytearray that the reader checks at every segment. The reader allocates no arrays: copies go into the
caller's output buffer, fades multiply with `out=`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..contract import AudioArray

# (tag, chunk_index, chunk_offset, out_offset, n, faded)
PieceSink = Callable[[int, int, int, int, int, bool], None]
# (tag, missing_frames, out_offset)
UnderrunSink = Callable[[int, int, int], None]
# (tag,)
EndSink = Callable[[int], None]

TAG_SLOTS = 1 << 16  # tags are recycled modulo this; far more than can ever be in the ring at once


class TaggedRing:
    def __init__(self, capacity_frames: int, fade_frames: int = 120, max_segments: int = 4096) -> None:
        if capacity_frames <= 0:
            raise ValueError("capacity must be positive")
        self._cap = capacity_frames
        self._buf = np.zeros(capacity_frames, dtype=np.float32)
        self._nseg = max_segments
        self._seg_tag = [0] * max_segments
        self._seg_chunk = [0] * max_segments
        self._seg_chunk_off = [0] * max_segments
        self._seg_start = [0] * max_segments  # absolute frame positions (monotonic)
        self._seg_end = [0] * max_segments
        self._seg_last = [False] * max_segments  # the request's final piece
        self._seg_w = 0  # segments published (writer)
        self._seg_r = 0  # segments consumed (reader)
        self._w = 0  # absolute write position (writer)
        self._r = 0  # absolute read position (reader)
        self._dead = bytearray(TAG_SLOTS)
        # Raised-cosine fade-out used when a playing request is cancelled, so the cut makes no click.
        self._fade_len = max(1, fade_frames)
        self._ramp = (0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, self._fade_len + 2)[1:-1])).astype(np.float32)
        self._fade_tag = -1
        self._fade_pos = 0
        self._last_out_tag = -1  # the tag whose sample ended the previous block (it is audible right now)
        self._open_tag = -1  # a request whose final piece has not been read yet

    # ---- writer side -------------------------------------------------------------------------------
    @property
    def capacity_frames(self) -> int:
        return self._cap

    def free_frames(self) -> int:
        return self._cap - (self._w - self._r)

    def level_frames(self) -> int:
        """Frames queued and not yet read (cancelled ones included until the reader skips them)."""
        return self._w - self._r

    def revive(self, tag: int) -> None:
        """Mark a freshly allocated tag alive (tags are recycled)."""
        self._dead[tag % TAG_SLOTS] = 0

    def kill(self, tag: int) -> None:
        """Cancel a request: the reader fades out what is audible and skips everything else of it."""
        self._dead[tag % TAG_SLOTS] = 1

    def is_dead(self, tag: int) -> bool:
        return bool(self._dead[tag % TAG_SLOTS])

    def write(self, tag: int, chunk_index: int, samples: AudioArray, chunk_offset: int = 0,
              last: bool = False) -> int:
        """Append as many samples as fit as one segment; return how many. `last` marks the request's end
        (only honoured when every given sample fit). A zero-length `last` write just closes the request."""
        if self._seg_w - self._seg_r >= self._nseg:
            return 0
        n = min(len(samples), self.free_frames())
        if n == 0 and (len(samples) > 0 or not last):
            return 0
        i = self._w % self._cap
        n1 = min(n, self._cap - i)
        self._buf[i:i + n1] = samples[:n1]
        if n > n1:
            self._buf[:n - n1] = samples[n1:n]
        k = self._seg_w % self._nseg
        self._seg_tag[k] = tag
        self._seg_chunk[k] = chunk_index
        self._seg_chunk_off[k] = chunk_offset
        self._seg_start[k] = self._w
        self._seg_end[k] = self._w + n
        self._seg_last[k] = last and n == len(samples)
        self._w += n
        self._seg_w += 1  # publish last: the reader sees the segment only once its samples are in place
        return n

    # ---- reader side (the audio callback) ----------------------------------------------------------
    def read(self, out: AudioArray, on_piece: PieceSink, on_underrun: UnderrunSink, on_end: EndSink) -> int:
        """Fill `out` (1-D) completely: samples of live requests, a fade of a just-cancelled one, zeros
        for the rest. Returns how many frames carried audio."""
        frames = len(out)
        o = 0
        last_tag = -1
        while o < frames and self._seg_r < self._seg_w:
            k = self._seg_r % self._nseg
            tag = self._seg_tag[k]
            end = self._seg_end[k]
            r = self._r
            if r < self._seg_start[k]:  # a zero-length segment was skipped earlier; realign
                r = self._r = self._seg_start[k]
            if self._dead[tag % TAG_SLOTS]:
                if self._fade_tag != tag and self._last_out_tag == tag:
                    self._fade_tag, self._fade_pos = tag, 0  # it was audible: fade it instead of cutting
                if self._fade_tag == tag and self._fade_pos < self._fade_len and r < end:
                    n = min(frames - o, end - r, self._fade_len - self._fade_pos)
                    self._copy(r, out, o, n, self._fade_pos)
                    on_piece(tag, self._seg_chunk[k], self._seg_chunk_off[k] + r - self._seg_start[k], o, n, True)
                    self._fade_pos += n
                    o += n
                    last_tag = tag
                    self._r = r + n
                    if self._r >= end:
                        self._seg_r += 1
                    continue
                self._r = end  # drop the rest of this dead segment
                self._seg_r += 1
                if self._open_tag == tag:
                    self._open_tag = -1
                continue
            n = min(frames - o, end - r)
            if n > 0:
                self._copy(r, out, o, n, -1)
                on_piece(tag, self._seg_chunk[k], self._seg_chunk_off[k] + r - self._seg_start[k], o, n, False)
                o += n
                last_tag = tag
                self._r = r + n
            self._open_tag = tag
            if self._r >= end:
                self._seg_r += 1
                if self._seg_last[k]:
                    self._open_tag = -1
                    on_end(tag)
        if o < frames:
            out[o:] = 0.0
            open_tag = self._open_tag
            if open_tag >= 0 and not self._dead[open_tag % TAG_SLOTS]:
                on_underrun(open_tag, frames - o, o)
            last_tag = -1 if o < frames else last_tag
        self._last_out_tag = last_tag
        return o

    def mark_silent(self) -> None:
        """The output went silent without reading (paused): nothing is audible now, so a cancel that comes next
        cuts without a fade (a fade would sound after the pause, and after the cancel's acknowledgement)."""
        self._last_out_tag = -1
        self._fade_tag = -1

    def _copy(self, r: int, out: AudioArray, o: int, n: int, fade_pos: int) -> None:
        i = r % self._cap
        n1 = min(n, self._cap - i)
        if fade_pos < 0:
            out[o:o + n1] = self._buf[i:i + n1]
            if n > n1:
                out[o + n1:o + n] = self._buf[:n - n1]
        else:
            np.multiply(self._buf[i:i + n1], self._ramp[fade_pos:fade_pos + n1], out=out[o:o + n1])
            if n > n1:
                np.multiply(self._buf[:n - n1], self._ramp[fade_pos + n1:fade_pos + n], out=out[o + n1:o + n])
