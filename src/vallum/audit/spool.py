"""The append-only local spool: every record lands here before any sink sees it.

Files ``spool-<first seq>.log`` hold one ``<seq>\\t<canonical JSON>\\n`` line per record.
A torn last line (power loss, ``kill -9`` mid-write) is cut off at open. Segments whose
records every sink has stored are deleted. One process owns a spool folder (``flock``).
"""

from __future__ import annotations

import fcntl
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from vallum.audit.chain import AuditEntry, entry_from_line
from vallum.clock import Clock
from vallum.errors import StorageError

__all__ = ["Spool"]

FsyncPolicy = Literal["always", "interval", "never"]
_PREFIX = "spool-"
_SUFFIX = ".log"


@dataclass(slots=True)
class _Segment:
    first: int
    path: Path
    size: int


def _segment_name(first: int) -> str:
    return f"{_PREFIX}{first:020d}{_SUFFIX}"


class Spool:
    """One chain's spool folder; thread-safe (appends and reads run in worker threads)."""

    def __init__(
        self,
        folder: Path,
        *,
        fsync: FsyncPolicy,
        fsync_interval: float,
        segment_bytes: int,
        clock: Clock,
    ) -> None:
        self.folder = folder
        self.fsync = fsync
        self.fsync_interval = fsync_interval
        self.segment_bytes = segment_bytes
        self.clock = clock
        self.last_seq = 0
        self.last_line: bytes | None = None
        self._lock = threading.Lock()
        self._segments: list[_Segment] = []
        self._out: IO[bytes] | None = None
        self._lock_file: IO[bytes] | None = None
        self._last_sync = 0.0
        self._cursor: tuple[int, int, int] | None = None  # (next seq, segment first, offset)

    @classmethod
    def claim(cls, base: Path, chain: str, **options: object) -> tuple[Spool, str]:
        """Lock ``base/<chain>`` or, if another process holds it, ``<chain>-1``, ``-2``, ..."""
        base.mkdir(parents=True, exist_ok=True)
        for index in range(256):
            name = chain if index == 0 else f"{chain}-{index}"
            folder = base / name
            folder.mkdir(exist_ok=True)
            handle = (folder / ".lock").open("ab")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                continue
            spool = cls(folder, **options)  # type: ignore[arg-type]
            spool._lock_file = handle
            return spool, name
        raise StorageError("no free audit spool folder", context={"base": str(base)})

    @property
    def size_bytes(self) -> int:
        return sum(segment.size for segment in self._segments)

    def open(self) -> AuditEntry | None:
        """Find the segments, cut a torn tail, and return the last record (None if empty)."""
        with self._lock:
            found = sorted(self.folder.glob(f"{_PREFIX}*{_SUFFIX}"))
            self._segments = [
                _Segment(int(p.name[len(_PREFIX) : -len(_SUFFIX)]), p, p.stat().st_size)
                for p in found
            ]
            last: AuditEntry | None = None
            while self._segments and last is None:
                last = self._recover(self._segments[-1])
                if last is None and self._segments[-1].size == 0 and len(self._segments) > 1:
                    self._segments.pop().path.unlink()
                elif last is None:
                    break
            if last is not None:
                self.last_seq = last.seq
                self.last_line = last.line
            return last

    def _recover(self, segment: _Segment) -> AuditEntry | None:
        data = segment.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end != len(data):
            with segment.path.open("r+b") as handle:
                handle.truncate(end)
                os.fsync(handle.fileno())
            segment.size = end
        if end == 0:
            return None
        start = data.rfind(b"\n", 0, end - 1) + 1
        line = data[start : end - 1]
        return entry_from_line(line.split(b"\t", 1)[1])

    def append(self, entries: list[AuditEntry]) -> None:
        """Write ``entries`` (consecutive seqs) and fsync as the policy says."""
        if not entries:
            return
        payload = b"".join(b"%d\t%b\n" % (e.seq, e.line) for e in entries)
        with self._lock:
            out = self._writer(entries[0].seq)
            try:
                out.write(payload)
                out.flush()
                now = self.clock.monotonic()
                due = self.fsync == "interval" and now - self._last_sync >= self.fsync_interval
                if self.fsync == "always" or due:
                    os.fsync(out.fileno())
                    self._last_sync = now
            except OSError as exc:
                raise StorageError("audit spool write failed") from exc
            self._segments[-1].size += len(payload)
            self.last_seq = entries[-1].seq
            self.last_line = entries[-1].line

    def _writer(self, first_seq: int) -> IO[bytes]:
        full = self._segments and self._segments[-1].size >= self.segment_bytes
        if self._out is None or full or not self._segments:
            if self._out is not None:
                self._out.flush()
                os.fsync(self._out.fileno())
                self._out.close()
                self._out = None
            if full or not self._segments:
                path = self.folder / _segment_name(first_seq)
                self._segments.append(_Segment(first_seq, path, 0))
            self._out = self._segments[-1].path.open("ab")
        return self._out

    def sync(self) -> None:
        with self._lock:
            if self._out is not None:
                self._out.flush()
                os.fsync(self._out.fileno())
                self._last_sync = self.clock.monotonic()

    def read(self, after: int, limit: int) -> list[AuditEntry]:
        """Up to ``limit`` records with seq > ``after``, in order."""
        with self._lock:
            segments = list(self._segments)
        found: list[AuditEntry] = []
        index = max(0, sum(1 for s in segments if s.first <= after + 1) - 1)
        for segment in segments[index:]:
            offset = 0
            cursor = self._cursor
            if cursor is not None and cursor[0] == after + 1 and cursor[1] == segment.first:
                offset = cursor[2]
            with segment.path.open("rb") as handle:
                handle.seek(offset)
                for raw in handle:
                    if not raw.endswith(b"\n"):
                        break
                    offset += len(raw)
                    seq_text, _, line = raw.partition(b"\t")
                    if int(seq_text) <= after:
                        continue
                    found.append(entry_from_line(line[:-1]))
                    if len(found) >= limit:
                        self._cursor = (found[-1].seq + 1, segment.first, offset)
                        return found
            if found:
                self._cursor = (found[-1].seq + 1, segment.first, offset)
        return found

    def trim(self, acked: int) -> None:
        """Delete segments whose every record has seq <= ``acked`` (never the open one)."""
        with self._lock:
            while len(self._segments) > 1 and self._segments[1].first <= acked + 1:
                self._segments.pop(0).path.unlink(missing_ok=True)

    def close(self) -> None:
        with self._lock:
            if self._out is not None:
                self._out.flush()
                os.fsync(self._out.fileno())
                self._out.close()
                self._out = None
            if self._lock_file is not None:
                self._lock_file.close()
                self._lock_file = None
