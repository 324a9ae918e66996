"""A bounded LRU with hit/lookup counters (phonemes, voice styles, short-phrase audio)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class LruCache(Generic[V]):
    def __init__(self, name: str, max_entries: int) -> None:
        self.name = name
        self.max_entries = max_entries
        self.hits = 0
        self.lookups = 0
        self._data: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_make(self, key: Hashable, make: Callable[[], V]) -> tuple[V, bool]:
        """The cached value (hit) or `make()`'s, stored (miss). Returns (value, hit)."""
        with self._lock:
            self.lookups += 1
            if key in self._data:
                self.hits += 1
                self._data.move_to_end(key)
                return self._data[key], True
        value = make()  # outside the lock: making may be slow (a synthesis)
        self.put(key, value)
        return value, False

    def lookup(self, key: Hashable) -> V | None:
        """The cached value or None (a lookup either way); `put` stores one made elsewhere (in pieces)."""
        with self._lock:
            self.lookups += 1
            if key in self._data:
                self.hits += 1
                self._data.move_to_end(key)
                return self._data[key]
        return None

    def put(self, key: Hashable, value: V) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)
