"""One reader for what every verb takes as input: a file, a folder, a run folder, or a Hub id.

`resolve(spec)` decides which it is (a local path wins over a Hub id) and names the
local data files (factory/core/layout.py, `data_files`, which also holds the suffix rules);
`Input.hub_dataset` loads a Hub dataset with the same error for every verb, and `hub_file` one file of
a Hub dataset repo (a gated one says how to get access). The byte-level
readings every stage shares live here too, each failing with one line that names the file:
`json_lines` / `json_bytes` (gunzipped where the name ends in .gz) and `parquet_batches`
(a corrupt page named by its row group).
"""

from __future__ import annotations

import gzip
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from factory.core.errors import InputError, first_line
from factory.core.layout import DATA_SUFFIXES, data_files, data_suffix, unread_reason

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_GZIP_MAGIC = b"\x1f\x8b"
_GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)


def looks_like_hub_id(spec: str) -> bool:
    """`user/name`, not a path: what to hand to `datasets.load_dataset` when no such file exists."""
    name = Path(spec)
    return bool(_HUB_ID.match(spec)) and not data_suffix(name) and not unread_reason(name)


@dataclass(frozen=True)
class Input:
    spec: str
    files: list[Path] = field(default_factory=list)   # local data files; empty for a Hub dataset
    hub_id: str | None = None

    def hub_dataset(self, split: str = "train", subset: str | None = None):
        try:
            import datasets

            return datasets.load_dataset(self.hub_id, subset, split=split)
        except Exception as e:
            raise InputError(f"could not load Hub dataset {self.hub_id!r} (split {split!r}): "
                             f"{type(e).__name__}: {e}") from None


def hub_file(repo_id: str, filename: str, *, what: str, local_flag: str) -> Path:
    """One file of a Hub dataset repo: downloaded, or from the local cache. Every failure is one line:
    a gated repo says how to get access, an unreachable Hub how to give a local copy (`local_flag`)."""
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import (EntryNotFoundError, GatedRepoError, LocalEntryNotFoundError,
                                            RepositoryNotFoundError)

        return Path(hf_hub_download(repo_id, filename, repo_type="dataset"))
    except LocalEntryNotFoundError as e:   # before its parent, EntryNotFoundError: the Hub was not reached
        raise InputError(f"{what}: could not reach the Hub for {filename} of the dataset {repo_id}, and it is "
                         f"not in the local cache ({first_line(e)}); without a network, give a local copy: "
                         f"{local_flag}") from None
    except GatedRepoError:
        raise InputError(f"{what}: the Hub dataset {repo_id} is gated: accept its terms on its Hub page while "
                         f"logged in, then log in here (`hf auth login`, or set HF_TOKEN) and rerun; "
                         f"or give a local copy: {local_flag}") from None
    except RepositoryNotFoundError:
        raise InputError(f"{what}: no Hub dataset {repo_id} (or it is private and you are not logged in); "
                         f"give a local copy: {local_flag}") from None
    except EntryNotFoundError:
        raise InputError(f"{what}: the Hub dataset {repo_id} has no file {filename}") from None
    except Exception as e:  # offline, refused, timed out: huggingface_hub raises several types
        raise InputError(f"{what}: could not fetch {filename} from the Hub dataset {repo_id} "
                         f"({type(e).__name__}: {first_line(e)}); without a network, give a local copy: "
                         f"{local_flag}") from None


def resolve(spec: str, suffixes: tuple[str, ...] = DATA_SUFFIXES) -> Input:
    path = Path(spec)
    if path.exists():
        return Input(spec, data_files(path, suffixes))
    if looks_like_hub_id(spec):
        return Input(spec, hub_id=spec)
    raise InputError(f"{spec}: no such file or folder (and not a Hub dataset id like user/name)")


def _open(path: Path):
    """The file's bytes, gunzipped where its name ends in .gz; gzip data under another name is refused."""
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rb")
    f = open(path, "rb")
    if f.peek(2)[:2] == _GZIP_MAGIC:
        f.close()
        raise InputError(f"{path}: holds gzip-compressed data but is not named .gz; rename it to {path.name}.gz")
    return f


def json_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, raw line) of a JSON lines file, plain or gzip; a damaged gzip stream is an
    InputError naming the file and the last line read whole."""
    with _open(path) as f:
        lineno = 0
        while True:
            try:
                raw = f.readline()
            except _GZIP_ERRORS as e:
                raise InputError(f"{path}: not valid gzip data after line {lineno} ({first_line(e)})") from None
            if not raw:
                return
            lineno += 1
            yield lineno, raw


def json_bytes(path: Path) -> bytes:
    """The whole content of a JSON file, plain or gzip; a damaged gzip stream is an InputError."""
    with _open(path) as f:
        try:
            return f.read()
        except _GZIP_ERRORS as e:
            raise InputError(f"{path}: not valid gzip data ({first_line(e)})") from None


def open_parquet(path: Path):
    """A `pyarrow.parquet.ParquetFile`; an unreadable footer or schema is an InputError."""
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises several types for corrupt files
        raise InputError(f"{path}: not a readable Parquet file ({first_line(e)})") from None


def parquet_batches(path: Path, rows: int, columns: list[str] | None = None, pf=None,
                    row_groups: list[int] | None = None) -> Iterator:
    """The record batches of a Parquet file (`rows` at most each; only `columns` and `row_groups`
    where given). A page that cannot be read (the footer fine, the data garbage) is an InputError
    naming the file and the row group, raised when the reading reaches it."""
    pf = pf or open_parquet(path)
    batches = pf.iter_batches(batch_size=rows, columns=columns, row_groups=row_groups)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except Exception as e:  # OSError, ArrowInvalid, …: pyarrow names neither file nor place
            raise _corrupt(path, pf, columns, e) from None
        yield batch


def check_parquet(path: Path, columns: list[str] | None = None) -> None:
    """Read every page of a Parquet file (only `columns` where given); the InputError of
    `parquet_batches` where one cannot be read. For naming the culprit after another reader failed."""
    for _ in parquet_batches(path, 65536, columns):
        pass


def _corrupt(path: Path, pf, columns, error: Exception) -> InputError:
    """The error for a Parquet file whose data could not be read: the first row group that does not
    read on its own is named (batches span row groups, so the failed batch does not say which)."""
    start = 0
    for g in range(pf.metadata.num_row_groups):
        n = pf.metadata.row_group(g).num_rows
        try:
            pf.read_row_group(g, columns=columns)
        except Exception as e:
            return InputError(f"{path}: corrupt Parquet data (row group {g}, rows {start + 1}-{start + n}): "
                              f"{first_line(e)}")
        start += n
    return InputError(f"{path}: corrupt Parquet data: {first_line(error)}")
