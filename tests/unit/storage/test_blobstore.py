"""Blob stores keep whole blobs or nothing, durably, and read them back through pyarrow."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from services.storage.blobstore import BlobStore, FileSystemBlobStore, LocalBlobStore, from_uri
from tessera.errors import InternalError, ValidationError


@pytest.fixture(params=["local", "filesystem"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    return FileSystemBlobStore(pafs.LocalFileSystem(), str(tmp_path / "objects"))


def test_a_put_blob_reads_back_whole_and_reports_its_size(store: BlobStore) -> None:
    store.put("t/00ff/seg-1.parquet", b"hello segment")
    assert store.read("t/00ff/seg-1.parquet") == b"hello segment"
    assert store.size("t/00ff/seg-1.parquet") == 13
    assert store.exists("t/00ff/seg-1.parquet")
    assert not store.exists("t/00ff/seg-2.parquet")
    assert not store.exists("t/00ff")  # a directory is not a blob


def test_a_second_put_replaces_the_blob(store: BlobStore) -> None:
    store.put("m/manifest.json", b"generation 1")
    store.put("m/manifest.json", b"generation 2, longer")
    assert store.read("m/manifest.json") == b"generation 2, longer"


def test_an_empty_blob_is_a_blob(store: BlobStore) -> None:
    store.put("t/DELETED", b"")
    assert store.exists("t/DELETED") and store.read("t/DELETED") == b"" and store.size("t/DELETED") == 0


def test_open_read_gives_parquet_random_access(store: BlobStore) -> None:
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({"x": list(range(1000))}), sink, row_group_size=100)
    store.put("f.parquet", sink.getvalue().to_pybytes())
    with store.open_read("f.parquet") as f:
        parquet = pq.ParquetFile(f)
        assert parquet.num_row_groups == 10
        assert parquet.read_row_group(7).column("x").to_pylist() == list(range(700, 800))


def test_list_matches_the_prefix_at_slash_boundaries_only(store: BlobStore) -> None:
    for path in ("t1/a/x", "t1/a/y", "t1/b", "t10/a/x", "t2"):
        store.put(path, b".")
    assert store.list("") == ["t1/a/x", "t1/a/y", "t1/b", "t10/a/x", "t2"]
    assert store.list("t1") == ["t1/a/x", "t1/a/y", "t1/b"]
    assert store.list("t1/") == ["t1/a/x", "t1/a/y", "t1/b"]
    assert store.list("t1/a") == ["t1/a/x", "t1/a/y"]
    assert store.list("t2") == ["t2"]
    assert store.list("nothing/here") == []


def test_deleting_removes_the_blob_and_a_missing_blob_is_fine(store: BlobStore) -> None:
    store.put("a/b", b"1")
    store.delete("a/b")
    store.delete("a/b")
    store.delete("never/was")
    assert not store.exists("a/b")
    assert store.list("") == []


def test_reading_a_missing_blob_is_an_internal_error_naming_it(store: BlobStore) -> None:
    with pytest.raises(InternalError, match="cannot read blob no/such.parquet"):
        store.read("no/such.parquet")
    with pytest.raises(InternalError, match="cannot open blob no/such.parquet"):
        store.open_read("no/such.parquet")
    with pytest.raises(InternalError, match="cannot size blob no/such.parquet"):
        store.size("no/such.parquet")


@pytest.mark.parametrize("path", ["", "/abs", "a//b", "a/../b", "./a", "a/.", "a/", "a/.tmp-x", "a\\b", "a\0b"])
def test_malformed_paths_are_rejected(store: BlobStore, path: str) -> None:
    with pytest.raises(ValidationError, match="blob path"):
        store.put(path, b"x")


# --- the local store's crash safety ---------------------------------------------------------------------------


@pytest.fixture
def fsynced(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Paths fsynced (files and directories), in order."""
    seen: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        seen.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    yield seen


def test_a_local_put_fsyncs_new_directories_then_the_file_then_the_directory_it_is_renamed_into(
        tmp_path: Path, fsynced: list[str]) -> None:
    store = LocalBlobStore(tmp_path / "root")
    fsynced.clear()
    store.put("t/p/seg.parquet", b"data")
    root = str(tmp_path / "root")
    assert fsynced[:2] == [root, f"{root}/t"]  # the parents of the new directories t and t/p
    assert fsynced[2].startswith(f"{root}/t/p/.tmp-seg.parquet-")  # the data, under its temporary name
    assert fsynced[3:] == [f"{root}/t/p"]  # the rename
    assert os.listdir(tmp_path / "root" / "t" / "p") == ["seg.parquet"]


def test_the_store_root_is_created_durably(tmp_path: Path, fsynced: list[str]) -> None:
    LocalBlobStore(tmp_path / "a" / "b")
    assert fsynced == [str(tmp_path), str(tmp_path / "a")]


def test_a_failed_local_put_leaves_nothing_under_the_path_nor_a_temporary_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalBlobStore(tmp_path)
    store.put("t/seg", b"old")

    def broken_rename(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "rename", broken_rename)
    with pytest.raises(InternalError, match="cannot put blob t/seg in .*No space left"):
        store.put("t/seg", b"new")
    with pytest.raises(InternalError, match="cannot put blob t/other"):
        store.put("t/other", b"new")
    assert store.read("t/seg") == b"old"
    assert sorted(os.listdir(tmp_path / "t")) == ["seg"]


def test_leftover_temporary_files_are_not_listed_and_are_swept(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    store.put("t/p/seg-1.parquet", b"kept")
    (tmp_path / "t" / "p" / ".tmp-seg-2.parquet-0123").write_bytes(b"half a segm")
    (tmp_path / ".tmp-manifest.json-77").write_bytes(b"{")
    assert store.list("") == ["t/p/seg-1.parquet"]
    assert not store.exists("t/p/seg-2.parquet")
    assert store.sweep_temporary() == 2
    assert store.sweep_temporary() == 0
    assert sorted(os.listdir(tmp_path / "t" / "p")) == ["seg-1.parquet"]


def test_a_local_delete_fsyncs_the_directory(tmp_path: Path, fsynced: list[str]) -> None:
    store = LocalBlobStore(tmp_path)
    store.put("t/seg", b"x")
    fsynced.clear()
    store.delete("t/seg")
    assert fsynced == [str(tmp_path / "t")]


# --- choosing a store by URI ----------------------------------------------------------------------------------


def test_a_path_or_file_uri_opens_a_local_store(tmp_path: Path) -> None:
    by_path = from_uri(str(tmp_path / "x"))
    by_uri = from_uri(f"file://{tmp_path}/y")
    assert isinstance(by_path, LocalBlobStore) and by_path.root == tmp_path / "x"
    assert isinstance(by_uri, LocalBlobStore) and by_uri.root == tmp_path / "y"


def test_another_uri_opens_a_filesystem_store() -> None:
    store = from_uri("mock:///bucket/prefix")
    assert isinstance(store, FileSystemBlobStore)
    store.put("t/seg", b"object")
    assert store.list("t") == ["t/seg"] and store.read("t/seg") == b"object"


def test_an_unusable_uri_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="blob store URI 'nosuch://x'"):
        from_uri("nosuch://x")
