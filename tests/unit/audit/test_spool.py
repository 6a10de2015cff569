"""The spool: append, read back in order across segments, cut a torn tail, one owner."""

from __future__ import annotations

from pathlib import Path

from vallum.audit.chain import ChainHead, link
from vallum.audit.spool import Spool
from vallum.clock import FakeClock


def _spool(tmp_path: Path, chain: str = "c") -> tuple[Spool, str]:
    return Spool.claim(
        tmp_path, chain, fsync="always", fsync_interval=1.0, segment_bytes=4096, clock=FakeClock()
    )


def _entries(head: ChainHead, count: int) -> list:
    return [link(head, {"type": "request", "at": 1.0, "n": i}) for i in range(count)]


def test_records_come_back_in_order_across_segments(tmp_path: Path) -> None:
    spool, _ = _spool(tmp_path)
    head = ChainHead("c")
    for _ in range(10):
        spool.append(_entries(head, 20))
    assert len(list((tmp_path / "c").glob("spool-*.log"))) > 3
    seen, after = [], 0
    while batch := spool.read(after, 37):
        seen.extend(e.seq for e in batch)
        after = batch[-1].seq
    assert seen == list(range(1, 201))
    spool.trim(150)
    assert spool.read(0, 1)[0].seq <= 151
    assert [e.seq for e in spool.read(150, 100)] == list(range(151, 201))
    spool.close()


def test_a_torn_last_line_is_cut_and_the_chain_resumes(tmp_path: Path) -> None:
    spool, _ = _spool(tmp_path)
    head = ChainHead("c")
    spool.append(_entries(head, 5))
    spool.close()
    [segment] = list((tmp_path / "c").glob("spool-*.log"))
    with segment.open("ab") as out:
        out.write(b'6\t{"chain":"c","seq":6,"type":"req')  # a kill -9 mid-write
    again, _ = _spool(tmp_path)
    last = again.open()
    assert last is not None and last.seq == 5 and last.hash == head.hash
    assert segment.read_bytes().endswith(b"\n")
    again.close()


def test_a_second_process_gets_its_own_folder(tmp_path: Path) -> None:
    first, name1 = _spool(tmp_path)
    second, name2 = _spool(tmp_path)
    assert (name1, name2) == ("c", "c-1")
    first.close()
    second.close()
    third, name3 = _spool(tmp_path)
    assert name3 == "c"
    third.close()
