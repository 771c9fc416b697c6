"""WriteAheadLog: round trip, torn and corrupt tails, group commit."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from services.storage.wal import WriteAheadLog

ENTRY_HEADER = 8


def write_entries(path: Path, payloads: list[bytes]) -> None:
    async def go() -> None:
        log = WriteAheadLog(path)
        seq = 0
        for p in payloads:
            seq = log.append(p)
        await log.sync(seq)
        log.close()

    asyncio.run(go())


def replay(path: Path) -> list[bytes]:
    log = WriteAheadLog(path)
    try:
        return list(log.replay())
    finally:
        log.close()


def test_entries_written_are_replayed_in_order_after_reopening(tmp_path: Path) -> None:
    path = tmp_path / "wal.log"
    payloads = [b"first", b"", b"x" * 100_000, b"last"]
    write_entries(path, payloads)
    assert replay(path) == payloads
    assert path.stat().st_size == sum(ENTRY_HEADER + len(p) for p in payloads)


def test_append_returns_increasing_sequence_numbers(tmp_path: Path) -> None:
    log = WriteAheadLog(tmp_path / "wal.log")
    assert [log.append(b"a"), log.append(b"b"), log.append(b"c")] == [1, 2, 3]
    assert log.last_seq == 3
    log.close()


def test_an_empty_new_log_replays_nothing(tmp_path: Path) -> None:
    assert replay(tmp_path / "wal.log") == []


@pytest.mark.parametrize("cut", [3, ENTRY_HEADER, ENTRY_HEADER + 2])
def test_a_torn_last_entry_is_dropped_and_later_appends_follow_the_good_prefix(
    tmp_path: Path, cut: int
) -> None:
    path = tmp_path / "wal.log"
    write_entries(path, [b"one", b"two", b"three-is-long"])
    good = 2 * ENTRY_HEADER + len(b"one") + len(b"two")
    os.truncate(path, good + cut)

    assert replay(path) == [b"one", b"two"]
    assert path.stat().st_size == good

    write_entries(path, [b"four"])
    assert replay(path) == [b"one", b"two", b"four"]


@pytest.mark.parametrize("where", ["crc", "payload"])
def test_a_flipped_byte_ends_replay_at_the_corrupt_entry(tmp_path: Path, where: str) -> None:
    path = tmp_path / "wal.log"
    write_entries(path, [b"one", b"two", b"three"])
    second = ENTRY_HEADER + len(b"one")
    offset = second + (5 if where == "crc" else ENTRY_HEADER + 1)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))

    assert replay(path) == [b"one"]
    write_entries(path, [b"again"])
    assert replay(path) == [b"one", b"again"]


def test_concurrent_syncs_share_fsyncs(tmp_path: Path) -> None:
    async def go() -> tuple[int, int]:
        log = WriteAheadLog(tmp_path / "wal.log")

        async def writer(i: int) -> None:
            await asyncio.sleep(0)
            await log.sync(log.append(b"entry %d" % i))

        await asyncio.gather(*(writer(i) for i in range(100)))
        count = log.fsync_count
        log.close()
        return count, len(replay(tmp_path / "wal.log"))

    fsyncs, entries = asyncio.run(go())
    assert entries == 100
    assert 1 <= fsyncs < 100


def test_fsync_runs_off_the_event_loop_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[threading.Thread] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        threads.append(threading.current_thread())
        real_fsync(fd)

    log = WriteAheadLog(tmp_path / "wal.log")  # created before patching: the directory fsync is not counted
    monkeypatch.setattr(os, "fsync", recording_fsync)

    async def go() -> None:
        await log.sync(log.append(b"x"))

    asyncio.run(go())
    log.close()
    assert threads and all(t is not threading.main_thread() for t in threads)


def test_sync_of_an_already_synced_entry_does_not_fsync_again(tmp_path: Path) -> None:
    async def go() -> int:
        log = WriteAheadLog(tmp_path / "wal.log")
        seq = log.append(b"x")
        await log.sync(seq)
        await log.sync(seq)
        await log.sync(0)
        log.close()
        return log.fsync_count

    assert asyncio.run(go()) == 1


def test_close_is_safe_to_call_twice(tmp_path: Path) -> None:
    log = WriteAheadLog(tmp_path / "wal.log")
    log.append(b"x")
    log.close()
    log.close()
