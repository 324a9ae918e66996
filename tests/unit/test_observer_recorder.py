"""The recorder stamps each block with the cycle its samples were copied in, even when its callback waits for
the GIL after every call into libjack (a fake JACK whose app writes a new block during each such wait)."""

from __future__ import annotations

import numpy as np

from voicetrace.bench.observer import _HEADER, take_block

BLOCK = 256


class World:
    """JACK and the app: each call into C ends with a wait for the GIL, during which `stall` cycles pass and
    the app's port buffer is rewritten with the block of the new cycle (its samples all equal the cycle)."""

    def __init__(self, stall: int) -> None:
        self.cycle, self.stall = 10, stall

    def c_call(self, value):
        self.cycle += self.stall  # the value was taken in C; then the wait to get the GIL back
        return value

    def block(self) -> bytes:
        return np.full(BLOCK, float(self.cycle), np.float32).tobytes()


class LiveBuffer:
    """What jack's Port.get_buffer() returns: a view of memory the app keeps writing into."""

    def __init__(self, world: World) -> None:
        self.world = world

    def __bytes__(self) -> bytes:
        return self.world.block()

    def __len__(self) -> int:
        return BLOCK * 4


class Port:
    def __init__(self, world: World) -> None:
        self.world = world

    def get_buffer(self) -> LiveBuffer:
        return self.world.c_call(LiveBuffer(self.world))


class Client:
    def __init__(self, world: World) -> None:
        self.world = world

    @property
    def last_frame_time(self) -> int:
        return self.world.c_call(self.world.cycle * BLOCK)


class RingBuffer:
    def __init__(self, world: World) -> None:
        self.world, self.data = world, bytearray()

    @property
    def write_space(self) -> int:
        return self.world.c_call(1 << 20)

    def write(self, x) -> int:
        self.data += bytes(x)  # jack_ringbuffer_write copies in C, GIL released
        return self.world.c_call(len(bytes(x)))


def test_each_block_is_stamped_with_the_cycle_its_samples_came_from():
    for stall in (0, 1, 2):
        world = World(stall)
        rb = RingBuffer(world)
        header = bytearray(_HEADER.size)
        for _ in range(4):
            assert take_block(Port(world), Client(world), rb, header, BLOCK)
        pos = 0
        while pos < len(rb.data):
            frame, n, _ = _HEADER.unpack_from(rb.data, pos)
            samples = np.frombuffer(bytes(rb.data[pos + _HEADER.size:pos + _HEADER.size + 4 * n]), np.float32)
            pos += _HEADER.size + 4 * n
            assert n == BLOCK and np.all(samples == samples[0])
            assert frame == int(samples[0]) * BLOCK, (stall, frame // BLOCK, samples[0])
