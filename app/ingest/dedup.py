"""Timestamps already accepted from this file, in bounded memory and O(log n) per lookup.

A Python set of 20 million timestamps costs gigabytes; sorted numpy runs cost 12 bytes a row.
Runs are merged like a binary counter (two runs of similar size become one), so there are never
more than log2(n) runs to search.
"""

from __future__ import annotations

import numpy as np


class SeenTimes:
    """Maps epoch-nanosecond timestamps to the data row number that first had them."""

    def __init__(self) -> None:
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []

    def __len__(self) -> int:
        return sum(len(keys) for keys, _ in self._runs)

    def lookup(self, ts: np.ndarray) -> np.ndarray:
        """Row numbers for ``ts`` (0 where unseen)."""
        found = np.zeros(len(ts), dtype=np.int64)
        for keys, rows in self._runs:
            idx = np.searchsorted(keys, ts)
            inside = idx < len(keys)
            hit = np.zeros(len(ts), dtype=bool)
            hit[inside] = keys[idx[inside]] == ts[inside]
            found[hit] = rows[idx[hit]]
        return found

    def add(self, ts: np.ndarray, rows: np.ndarray) -> None:
        if not len(ts):
            return
        order = np.argsort(ts, kind="stable")
        self._runs.append((ts[order], rows[order].astype(np.int32)))
        while len(self._runs) > 1 and len(self._runs[-2][0]) <= 2 * len(self._runs[-1][0]):
            (k2, r2), (k1, r1) = self._runs.pop(), self._runs.pop()
            keys = np.concatenate([k1, k2])
            rows_all = np.concatenate([r1, r2])
            order = np.argsort(keys, kind="stable")
            self._runs.append((keys[order], rows_all[order]))
