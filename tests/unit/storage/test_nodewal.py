"""NodeLog: segments, group commit, checkpoints, torn tails and corruption, on real files."""

from __future__ import annotations

import asyncio
import errno
import os
import struct
import threading
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from services.storage.nodewal import HEADER_SIZE, LogEntry, NodeLog, Recovery, TornTail, segment_name
from tessera.errors import InternalError

SMALL = 1024  # bytes a segment: 32 entries of `payload(i)`


def payload(i: int) -> bytes:
    return b"entry-%06d" % i  # 12 bytes: a 32-byte entry


def write(directory: Path, payloads: list[bytes], segment_bytes: int = SMALL) -> list[int]:
    async def go() -> list[int]:
        log = NodeLog.open(directory, segment_bytes)
        lsns = [log.append(p) for p in payloads]
        await log.close()
        return lsns

    return asyncio.run(go())


def reopen(directory: Path, segment_bytes: int = SMALL) -> tuple[list[LogEntry], Recovery]:
    log = NodeLog.open(directory, segment_bytes)
    entries = list(log.replay())
    asyncio.run(log.close())
    return entries, log.recovery


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.seg"))


def first_lsn_in(path: Path) -> int:
    _, _, lsn, _ = struct.unpack("<IIQI", path.read_bytes()[:HEADER_SIZE])
    return int(lsn)


def flip(path: Path, offset: int, mask: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= mask
    path.write_bytes(bytes(data))


def test_entries_written_over_many_segments_are_replayed_in_lsn_order_after_reopening(tmp_path: Path) -> None:
    payloads = [payload(i) for i in range(200)] + [b"", b"x" * (3 * SMALL), b"last"]
    assert write(tmp_path, payloads) == list(range(1, len(payloads) + 1))

    entries, recovery = reopen(tmp_path)
    assert [e.payload for e in entries] == payloads
    assert [e.lsn for e in entries] == list(range(1, len(payloads) + 1))
    assert recovery.torn_tail == () and recovery.corruption == () and recovery.entries == len(payloads)
    files = segments(tmp_path)
    assert len(files) > 6
    for path in files:
        assert path.name == segment_name(first_lsn_in(path))
        assert path.stat().st_size <= SMALL or path.stat().st_size == HEADER_SIZE + 3 * SMALL


def test_lsns_continue_after_reopening(tmp_path: Path) -> None:
    write(tmp_path, [payload(i) for i in range(5)])
    assert write(tmp_path, [b"sixth"]) == [6]
    assert [e.lsn for e in reopen(tmp_path)[0]] == [1, 2, 3, 4, 5, 6]


def test_lsns_continue_after_every_segment_is_checkpointed_away(tmp_path: Path) -> None:
    async def go() -> None:
        log = NodeLog.open(tmp_path, SMALL)
        for i in range(100):
            log.append(payload(i))
        await log.drain()
        log.checkpoint(log.next_lsn)
        assert log.checkpoint_lsn == 101
        assert log.segment_count == 1  # an empty active segment: the full one went at once
        assert log.bytes_on_disk == 0
        await log.close()

    asyncio.run(go())
    for path in segments(tmp_path):  # everything is persisted elsewhere: losing the files loses nothing
        path.unlink()
    entries, recovery = reopen(tmp_path)
    assert entries == [] and recovery.lost == [] and recovery.next_lsn == 101
    assert write(tmp_path, [b"next"]) == [101]
    assert [(e.lsn, e.payload) for e in reopen(tmp_path)[0]] == [(101, b"next")]


def test_concurrent_appends_and_syncs_share_far_fewer_fsyncs(tmp_path: Path) -> None:
    async def go() -> NodeLog:
        log = NodeLog.open(tmp_path, SMALL)

        async def writer(i: int) -> None:
            await asyncio.sleep(0)
            await log.sync(log.append(payload(i)))

        await asyncio.gather(*(writer(i) for i in range(200)))
        await log.close()
        return log

    log = asyncio.run(go())
    assert log.synced_lsn == 200
    assert 1 <= log.fsync_count <= 20
    assert len(reopen(tmp_path)[0]) == 200


def test_a_cancelled_waiter_does_not_cancel_the_fsync_others_wait_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = NodeLog.open(tmp_path, SMALL)
    in_fsync, release = threading.Event(), threading.Event()
    threads: list[str] = []
    real_fsync = os.fsync

    def held_fsync(fd: int) -> None:
        threads.append(threading.current_thread().name)
        in_fsync.set()
        release.wait(10)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", held_fsync)

    async def go() -> asyncio.Task[None]:
        cancelled = asyncio.create_task(log.sync(log.append(b"a")))
        other = asyncio.create_task(log.sync(log.append(b"b")))
        await asyncio.to_thread(in_fsync.wait, 10)
        cancelled.cancel()
        await asyncio.sleep(0)
        release.set()
        await other
        await log.close()
        return cancelled

    cancelled = asyncio.run(go())
    assert cancelled.cancelled()
    assert log.synced_lsn == 2 and log.fsync_count == 1
    assert threads and all(name.startswith("nodewal-fsync") for name in threads)


def test_a_rolled_segment_and_the_directory_are_fsynced_before_entries_after_them_count_as_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = NodeLog.open(tmp_path, SMALL)
    fsynced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        fsynced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    async def go() -> None:
        first = log.append(payload(0))
        await log.sync(first)
        monkeypatch.setattr(os, "fsync", recording_fsync)
        lsn = first
        while log.segment_count == 1:
            lsn = log.append(payload(lsn))
        await log.sync(lsn)
        await log.close()

    asyncio.run(go())
    old, new = segments(tmp_path)
    assert fsynced[0] == str(old)  # at the roll itself, before any entry goes to the new segment
    rest = fsynced[1:]
    assert rest.index(str(tmp_path)) < rest.index(str(new))  # the new name is durable before its entries count


def test_checkpoint_deletes_exactly_the_segments_below_it_and_replay_starts_there(tmp_path: Path) -> None:
    write(tmp_path, [payload(i) for i in range(300)])
    firsts = [int(p.stem) for p in segments(tmp_path)]
    kept = [f for i, f in enumerate(firsts) if i + 1 == len(firsts) or firsts[i + 1] > 150]
    assert len(kept) < len(firsts) - 2

    async def go() -> None:
        log = NodeLog.open(tmp_path, SMALL)
        log.checkpoint(150)
        log.checkpoint(20)  # a lower checkpoint changes nothing
        with pytest.raises(ValueError, match="next LSN is 301"):
            log.checkpoint(302)
        assert log.checkpoint_lsn == 150
        assert log.segment_count == len(kept)
        assert log.bytes_on_disk == sum(p.stat().st_size for p in segments(tmp_path))
        await log.close()

    asyncio.run(go())
    assert [int(p.stem) for p in segments(tmp_path)] == kept
    entries, recovery = reopen(tmp_path)
    assert [e.lsn for e in entries] == list(range(150, 301))
    assert [e.payload for e in entries] == [payload(i) for i in range(149, 300)]
    assert recovery.checkpoint_lsn == 150 and recovery.entries == 151


def test_a_torn_last_entry_is_cut_at_every_byte_offset_and_earlier_entries_are_kept(tmp_path: Path) -> None:
    torn = b"the torn entry"
    whole = HEADER_SIZE + len(torn)
    for cut in range(whole):
        directory = tmp_path / str(cut)
        write(directory, [b"one", b"two", torn])
        (path,) = segments(directory)
        good = 2 * HEADER_SIZE + len(b"one") + len(b"two")
        os.truncate(path, good + cut)

        with capture_logs() as logs:
            entries, recovery = reopen(directory)
        assert [e.payload for e in entries] == [b"one", b"two"], cut
        assert path.stat().st_size == good
        assert recovery.corruption == ()
        if cut:
            assert recovery.torn_tail == (TornTail(path, good, cut),)
            (warning,) = [e for e in logs if e["log_level"] == "warning"]
            assert warning["segment"] == str(path) and warning["bytes_cut"] == cut
        assert write(directory, [b"again"]) == [3]
        assert [e.payload for e in reopen(directory)[0]] == [b"one", b"two", b"again"]


def test_a_torn_first_entry_of_a_new_segment_removes_that_segment(tmp_path: Path) -> None:
    write(tmp_path, [payload(i) for i in range(33)])  # the 33rd entry starts a second segment
    _, second = segments(tmp_path)
    os.truncate(second, 7)

    entries, recovery = reopen(tmp_path)
    assert [e.lsn for e in entries] == list(range(1, 33))
    assert recovery.torn_tail == (TornTail(second, 0, 7),) and recovery.lost == []
    assert write(tmp_path, [b"next"]) == [33]
    assert [e.lsn for e in reopen(tmp_path)[0]] == list(range(1, 34))


@pytest.mark.parametrize(
    ("field", "offset", "mask"),
    [("magic", 0, 0xFF), ("length low bit", 4, 0x01), ("length high bit", 7, 0x80), ("lsn", 8, 0x01),
     ("crc", 16, 0x01), ("payload", HEADER_SIZE + 3, 0xFF)],
)
def test_a_flipped_byte_in_the_middle_keeps_every_later_entry_and_reports_the_lost_lsn(
    tmp_path: Path, field: str, offset: int, mask: int
) -> None:
    write(tmp_path, [payload(i) for i in range(10)], segment_bytes=1 << 20)
    (path,) = segments(tmp_path)
    fifth = 4 * (HEADER_SIZE + 12)
    flip(path, fifth + offset, mask)
    damaged = path.read_bytes()

    with capture_logs() as logs:
        entries, recovery = reopen(tmp_path)
    assert [e.lsn for e in entries] == [1, 2, 3, 4, 6, 7, 8, 9, 10], field
    assert recovery.lost == [(5, 5)] and recovery.torn_tail == ()
    (found,) = recovery.corruption
    assert (found.segment, found.offset, found.length) == (path, fifth, HEADER_SIZE + 12)
    (error,) = [e for e in logs if e["log_level"] == "error"]
    assert (error["segment"], error["offset"], error["lost_first_lsn"], error["lost_last_lsn"]) == (str(path),
                                                                                                   fifth, 5, 5)

    # New entries go to a fresh segment; the damaged one is left as it was, and reported again.
    assert write(tmp_path, [b"eleventh"]) == [11]
    assert [p.name for p in segments(tmp_path)] == [path.name, segment_name(11)]
    assert path.read_bytes() == damaged
    entries, recovery = reopen(tmp_path)
    assert [e.lsn for e in entries] == [1, 2, 3, 4, 6, 7, 8, 9, 10, 11] and recovery.lost == [(5, 5)]


def test_a_flipped_byte_in_the_last_entry_is_a_torn_tail(tmp_path: Path) -> None:
    write(tmp_path, [payload(i) for i in range(3)])
    (path,) = segments(tmp_path)
    flip(path, path.stat().st_size - 1, 0x01)
    entries, recovery = reopen(tmp_path)
    assert [e.lsn for e in entries] == [1, 2]
    assert recovery.torn_tail == (TornTail(path, 2 * (HEADER_SIZE + 12), HEADER_SIZE + 12),)
    assert recovery.lost == []


def test_a_corrupt_last_entry_of_a_segment_followed_by_later_segments_is_reported_lost(tmp_path: Path) -> None:
    write(tmp_path, [payload(i) for i in range(100)])
    first = segments(tmp_path)[0]
    flip(first, first.stat().st_size - 2, 0xFF)  # entry 32, the last of the first segment

    entries, recovery = reopen(tmp_path)
    assert [e.lsn for e in entries] == [n for n in range(1, 101) if n != 32]
    assert recovery.lost == [(32, 32)]
    assert recovery.corruption[0].segment == first


def test_junk_after_the_last_entry_of_a_segment_is_reported_though_no_lsn_is_lost(tmp_path: Path) -> None:
    write(tmp_path, [payload(i) for i in range(100)])
    first = segments(tmp_path)[0]
    size = first.stat().st_size
    with open(first, "ab") as f:
        f.write(b"\x00junk\xff" * 3)

    entries, recovery = reopen(tmp_path)
    assert [e.lsn for e in entries] == list(range(1, 101))
    assert recovery.lost == []
    (found,) = recovery.corruption
    assert (found.segment, found.offset, found.length, found.lost) == (first, size, 18, None)


@pytest.mark.parametrize("index", [0, 2])
def test_a_deleted_segment_is_reported_lost(tmp_path: Path, index: int) -> None:
    write(tmp_path, [payload(i) for i in range(200)])
    files = segments(tmp_path)
    files[index].unlink()
    missing = (int(files[index].stem), int(files[index + 1].stem) - 1)

    entries, recovery = reopen(tmp_path)
    assert [e.lsn for e in entries] == [n for n in range(1, 201) if not missing[0] <= n <= missing[1]]
    assert recovery.lost == [missing]
    (found,) = recovery.corruption
    assert (found.reason, found.segment, found.length) == ("missing segment", files[index + 1], 0)


def test_each_of_several_corrupt_entries_is_reported_with_its_own_lost_range(tmp_path: Path) -> None:
    write(tmp_path, [payload(i) for i in range(10)], segment_bytes=1 << 20)
    (path,) = segments(tmp_path)
    for n in (3, 7):
        flip(path, (n - 1) * (HEADER_SIZE + 12) + HEADER_SIZE, 0xFF)

    entries, recovery = reopen(tmp_path)
    assert [e.lsn for e in entries] == [1, 2, 4, 5, 6, 8, 9, 10]
    assert recovery.lost == [(3, 3), (7, 7)]


def test_corruption_and_a_torn_tail_in_the_last_segment_are_both_handled(tmp_path: Path) -> None:
    write(tmp_path, [payload(i) for i in range(10)], segment_bytes=1 << 20)
    (path,) = segments(tmp_path)
    entry = HEADER_SIZE + 12
    flip(path, 4 * entry + HEADER_SIZE, 0xFF)
    os.truncate(path, 9 * entry + 5)

    entries, recovery = reopen(tmp_path)
    assert [e.lsn for e in entries] == [1, 2, 3, 4, 6, 7, 8, 9]
    assert recovery.lost == [(5, 5)]
    assert recovery.torn_tail == (TornTail(path, 9 * entry, 5),)
    assert write(tmp_path, [b"tenth"]) == [10]
    assert [p.name for p in segments(tmp_path)] == [path.name, segment_name(10)]


def test_a_failed_fsync_poisons_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = NodeLog.open(tmp_path, SMALL)
    active = segments(tmp_path)[-1]

    def failing_fsync(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    async def go() -> None:
        first = log.append(b"x")
        monkeypatch.setattr(os, "fsync", failing_fsync)
        with pytest.raises(InternalError, match=f"cannot sync WAL segment {active}"):
            await log.sync(first)
        monkeypatch.undo()  # the disk recovers; the log must still refuse: pages may have been dropped
        with pytest.raises(InternalError, match=f"cannot append to WAL segment {active}: fsync of .* failed"):
            log.append(b"y")
        with pytest.raises(InternalError, match="cannot sync WAL segment"):
            await log.sync(first)
        await log.close()
        await log.close()

    asyncio.run(go())
    assert log.fsync_count == 0


def test_appends_from_several_threads_get_unique_consecutive_lsns(tmp_path: Path) -> None:
    log = NodeLog.open(tmp_path, SMALL)
    got: dict[int, bytes] = {}

    def writer(t: int) -> None:
        for i in range(1000):
            p = b"%d-%d" % (t, i)
            got[log.append(p)] = p

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    asyncio.run(log.close())
    assert sorted(got) == list(range(1, 8001))
    assert {e.lsn: e.payload for e in reopen(tmp_path)[0]} == got


def test_replay_reads_only_the_tail_not_the_checkpointed_history(tmp_path: Path) -> None:
    segment_bytes = 64 * 1024

    async def go() -> None:
        log = NodeLog.open(tmp_path, segment_bytes)
        for i in range(200_000):
            log.append(payload(i))
        await log.drain()
        log.checkpoint(log.next_lsn - 100)
        assert log.segment_count <= 2
        await log.close()

    asyncio.run(go())
    entries, recovery = reopen(tmp_path, segment_bytes)
    assert [e.lsn for e in entries] == list(range(199_901, 200_001))
    assert recovery.entries == 100
    assert recovery.bytes_scanned <= 2 * segment_bytes  # of the 6.4 MB written


def test_close_drains_and_is_safe_to_call_twice_and_later_appends_are_refused(tmp_path: Path) -> None:
    async def go() -> NodeLog:
        log = NodeLog.open(tmp_path, SMALL)
        log.append(b"kept")
        await log.close()
        await log.close()
        with pytest.raises(InternalError, match="the log is closed"):
            log.append(b"late")
        return log

    log = asyncio.run(go())
    assert log.synced_lsn == 1
    assert [e.payload for e in reopen(tmp_path)[0]] == [b"kept"]


def test_a_second_open_of_the_same_directory_is_refused(tmp_path: Path) -> None:
    log = NodeLog.open(tmp_path, SMALL)
    with pytest.raises(InternalError, match="another NodeLog holds"):
        NodeLog.open(tmp_path, SMALL)
    asyncio.run(log.close())
    asyncio.run(NodeLog.open(tmp_path, SMALL).close())


def test_a_sync_beyond_the_last_written_entry_is_an_error(tmp_path: Path) -> None:
    async def go() -> None:
        log = NodeLog.open(tmp_path, SMALL)
        with pytest.raises(ValueError, match="the last written is 1"):
            await log.sync(log.append(b"x") + 1)
        await log.sync(0)
        await log.close()

    asyncio.run(go())


def test_a_corrupt_checkpoint_file_refuses_to_open(tmp_path: Path) -> None:
    async def go() -> None:
        log = NodeLog.open(tmp_path, SMALL)
        log.append(b"x")
        log.checkpoint(2)
        await log.close()

    asyncio.run(go())
    flip(tmp_path / "checkpoint", 9, 0x01)
    with pytest.raises(InternalError, match="checkpoint file .* is corrupt"):
        NodeLog.open(tmp_path, SMALL)
