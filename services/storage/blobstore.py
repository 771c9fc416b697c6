"""Where magnetic segments and manifests live: named, immutable blobs on a local disk or in an object store.

A blob is written whole by ``put`` and is then either entirely there under its path or not there at all,
also after a crash: the manifest that lists a segment is written after the segment, so a reader never
meets a listed but missing or half-written file. Paths are relative, ``/``-separated names such as
``cpu/00ab…/000042.parquet``; they never start with ``/``, contain ``.`` or ``..`` components, empty
components, or a component starting with ``.tmp-`` (reserved for files being written).

Two stores implement the ``BlobStore`` protocol:

- ``LocalBlobStore``: a directory. ``put`` writes ``<dir>/.tmp-<name>-<random>``, fsyncs it, renames it
  over ``<dir>/<name>`` (atomic on POSIX) and fsyncs the directory so that the rename survives a crash.
  Directories it creates are made durable the same way (each new one's parent is fsynced). A crash
  between the write and the rename leaves a ``.tmp-`` file: ``list`` never shows it and
  ``sweep_temporary`` (run at start-up, before any ``put``) removes it.
- ``FileSystemBlobStore``: any ``pyarrow.fs.FileSystem`` under a root, meant for S3-compatible object
  stores, where a single upload (``open_output_stream`` … ``close``) becomes visible atomically and is
  durable once acknowledged; there are no directories to fsync and no temporary names.

Reads go through ``pyarrow.fs`` in both, so ``open_read`` hands ``pq.ParquetFile`` a random-access file
that fetches only the byte ranges it needs (the footer, then the column chunks read).

``list(prefix)`` matches the prefix at ``/`` boundaries: ``list("t1")`` lists ``t1`` and ``t1/…`` but
never ``t10/…``, so a caller may list (and delete) one table's or one partition's blobs by its directory.

Errors from the operating system or pyarrow become ``InternalError`` naming the blob ("cannot put blob
…: …"); a malformed path is a ``ValidationError``.
"""

from __future__ import annotations

import builtins
import os
import uuid
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.fs as pafs

from services.storage.durable import fsync_dir, make_dirs
from tessera.errors import InternalError, ValidationError

TEMPORARY_PREFIX = ".tmp-"
"""Names of blobs being written start with this; such files are invisible and swept at start-up."""

_ERRORS = (OSError, pa.ArrowException)


class BlobStore(Protocol):
    """Named immutable blobs: atomic durable writes, random-access reads, listing by directory prefix."""

    def put(self, path: str, data: bytes) -> None:
        """Store ``data`` under ``path`` (replacing any blob there): all of it is durable on return, and
        nothing under ``path`` changes before."""
        ...

    def open_read(self, path: str) -> pa.NativeFile:
        """A random-access file over the blob (close it when done; it is a context manager)."""
        ...

    def read(self, path: str) -> bytes:
        """The whole blob."""
        ...

    def delete(self, path: str) -> None:
        """Remove the blob; a missing blob is not an error."""
        ...

    def list(self, prefix: str) -> builtins.list[str]:
        """Paths of the blobs at or under the directory ``prefix`` ("" lists everything), sorted."""
        ...

    def exists(self, path: str) -> bool:
        """Whether a blob is stored under ``path``."""
        ...

    def size(self, path: str) -> int:
        """The blob's length in bytes."""
        ...


def check_path(path: str) -> str:
    """Return ``path`` if it is a valid blob path, else raise ValidationError naming it."""
    parts = path.split("/")
    bad = (
        not path
        or "\0" in path
        or "\\" in path
        or any(p in ("", ".", "..") or p.startswith(TEMPORARY_PREFIX) for p in parts)
    )
    if bad:
        raise ValidationError(f"blob path {path!r} is not a relative '/'-separated name without '.', '..', "
                              f"empty or {TEMPORARY_PREFIX!r} components")
    return path


def _check_prefix(prefix: str) -> str:
    """The prefix without trailing slashes, checked like a path ("" stands for the whole store)."""
    base = prefix.rstrip("/")
    return check_path(base) if base else ""


class _ArrowBlobStore:
    """The read side shared by both stores: everything through a pyarrow FileSystem rooted at the store."""

    def __init__(self, fs: pafs.FileSystem, where: str) -> None:
        self._fs = fs
        self._where = where  # for messages: the root directory or URI

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._where!r})"

    def open_read(self, path: str) -> pa.NativeFile:
        """A random-access file over the blob."""
        try:
            return self._fs.open_input_file(check_path(path))
        except _ERRORS as exc:
            raise InternalError(f"cannot open blob {path} in {self._where} for reading: {exc}") from exc

    def read(self, path: str) -> bytes:
        """The whole blob."""
        try:
            with self._fs.open_input_file(check_path(path)) as f:
                data: bytes = f.readall()
                return data
        except _ERRORS as exc:
            raise InternalError(f"cannot read blob {path} in {self._where}: {exc}") from exc

    def exists(self, path: str) -> bool:
        """Whether a blob is stored under ``path``."""
        try:
            return bool(self._fs.get_file_info(check_path(path)).type == pafs.FileType.File)
        except _ERRORS as exc:
            raise InternalError(f"cannot look up blob {path} in {self._where}: {exc}") from exc

    def size(self, path: str) -> int:
        """The blob's length in bytes."""
        try:
            info = self._fs.get_file_info(check_path(path))
        except _ERRORS as exc:
            raise InternalError(f"cannot look up blob {path} in {self._where}: {exc}") from exc
        if info.type != pafs.FileType.File or info.size is None:
            raise InternalError(f"cannot size blob {path} in {self._where}: no such blob")
        return int(info.size)

    def list(self, prefix: str) -> builtins.list[str]:
        """Paths of the blobs at or under the directory ``prefix`` ("" lists everything), sorted."""
        base = _check_prefix(prefix)
        try:
            top = self._fs.get_file_info(base) if base else None
            if top is not None and top.type == pafs.FileType.File:
                return [base]
            infos = self._fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
        except _ERRORS as exc:
            raise InternalError(f"cannot list blobs under {prefix!r} in {self._where}: {exc}") from exc
        out = []
        for info in infos:
            if info.type != pafs.FileType.File or info.base_name.startswith(TEMPORARY_PREFIX):
                continue
            out.append(info.path.lstrip("/"))
        return sorted(out)


class LocalBlobStore(_ArrowBlobStore):
    """Blobs as files under a local directory, written by temp file + fsync + rename + directory fsync."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).absolute()
        try:
            make_dirs(self.root)
        except OSError as exc:
            raise InternalError(f"cannot create blob store directory {self.root}: {exc}") from exc
        super().__init__(pafs.SubTreeFileSystem(str(self.root), pafs.LocalFileSystem()), str(self.root))

    def put(self, path: str, data: bytes) -> None:
        """Write the blob to a temporary file, fsync it, rename it into place and fsync the directory."""
        target = self.root / check_path(path)
        temporary = target.parent / f"{TEMPORARY_PREFIX}{target.name}-{uuid.uuid4().hex}"
        try:
            make_dirs(target.parent)
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(temporary, target)
            fsync_dir(target.parent)
        except OSError as exc:
            try:
                temporary.unlink(missing_ok=True)
            except OSError:
                pass  # swept at the next start
            raise InternalError(f"cannot put blob {path} in {self.root}: {exc}") from exc

    def delete(self, path: str) -> None:
        """Unlink the file and fsync its directory; a missing file is not an error."""
        target = self.root / check_path(path)
        try:
            target.unlink(missing_ok=True)
            if target.parent.exists():
                fsync_dir(target.parent)
        except OSError as exc:
            raise InternalError(f"cannot delete blob {path} in {self.root}: {exc}") from exc

    def sweep_temporary(self) -> int:
        """Remove files left by interrupted puts; return how many. Call before any put (at start-up)."""
        removed = 0
        try:
            for directory, _, files in os.walk(self.root):
                for name in files:
                    if name.startswith(TEMPORARY_PREFIX):
                        os.unlink(os.path.join(directory, name))
                        removed += 1
        except OSError as exc:
            raise InternalError(f"cannot sweep temporary blobs in {self.root}: {exc}") from exc
        return removed


class FileSystemBlobStore(_ArrowBlobStore):
    """Blobs in a pyarrow FileSystem under ``root`` (an S3 bucket/prefix), where one upload is atomic."""

    def __init__(self, fs: pafs.FileSystem, root: str) -> None:
        root = root.rstrip("/")
        super().__init__(pafs.SubTreeFileSystem(root, fs) if root else fs, f"{fs.type_name}:{root}")
        try:  # a real directory on a local or network filesystem; a marker (or nothing) in an object store
            if root and fs.get_file_info(root).type == pafs.FileType.NotFound:
                fs.create_dir(root, recursive=True)
        except _ERRORS as exc:
            raise InternalError(f"cannot create blob store root {self._where}: {exc}") from exc

    def put(self, path: str, data: bytes) -> None:
        """Upload the blob in one stream: it becomes visible, whole, when the stream closes."""
        check_path(path)
        try:
            parent = path.rpartition("/")[0]
            if parent:
                self._fs.create_dir(parent, recursive=True)
            with self._fs.open_output_stream(path) as out:
                out.write(data)
        except _ERRORS as exc:
            raise InternalError(f"cannot put blob {path} in {self._where}: {exc}") from exc

    def delete(self, path: str) -> None:
        """Delete the object; a missing object is not an error."""
        try:
            self._fs.delete_file(check_path(path))
        except FileNotFoundError:
            return
        except _ERRORS as exc:
            raise InternalError(f"cannot delete blob {path} in {self._where}: {exc}") from exc


def from_uri(uri: str) -> BlobStore:
    """A local directory (a path or ``file://``) as a LocalBlobStore; any other pyarrow URI (``s3://…``)
    as a FileSystemBlobStore."""
    if "://" not in uri:
        return LocalBlobStore(Path(uri))
    try:
        fs, root = pafs.FileSystem.from_uri(uri)
    except _ERRORS as exc:
        raise ValidationError(f"blob store URI {uri!r} is not usable: {exc}") from exc
    if isinstance(fs, pafs.LocalFileSystem):
        return LocalBlobStore(Path(root))
    return FileSystemBlobStore(fs, root)
