"""Immutable state objects shared by projection sets (decisions A41): the buckets of a
fold state pickled under ``projections.d/_objects/<generation>/``, a generation being the
name of the set that wrote them.

A set names the object of each of its buckets (its own generation for the buckets it
wrote, older ones for the others), so an incremental fold writes only what it touched
and copies or links nothing else. A write of many buckets at once (a rebuild) goes into
one pack file per kind with an index. Objects are never changed; a generation is deleted
once no kept set refers to it (:func:`collect_objects`).
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path
from typing import Any

#: the generations a set refers to, beside its core pickle
OBJECTS_FILE = "_state/objects.json"
#: the folder of shared state objects, beside the sets in ``projections.d``
OBJECTS_DIR = "_objects"


#: what the state objects hold, by kind: run state, keys, outcomes by run
RUNS, KEYS, OUTCOMES = "runs", "keys", "outcomes"
#: which object holds each bucket: kind → bucket → generation
Objects = dict[str, dict[int, str]]


def objects_root(folder: Path) -> Path:
    """The shared object folder of the set ``folder`` (in ``projections.d``)."""
    return folder.parent / OBJECTS_DIR


def object_path(root: Path, kind: str, bucket: int, generation: str) -> Path:
    return root / generation / f"{kind}-{bucket:05d}.pickle"


#: a write of at least this many buckets of one kind (a set written from scratch) goes
#: into one pack file with an index instead of a file per bucket: tens of thousands of
#: small files cost seconds to create and again to delete
PACK_MIN_BUCKETS = 32


class ObjectReader:
    """Loads bucket objects, from their own file or from a generation's pack (whose
    index is read once)."""

    def __init__(self, root: Path, packed: set[tuple[str, str]]) -> None:
        self.root = root
        self.packed = packed
        self._indexes: dict[tuple[str, str], dict[int, tuple[int, int]]] = {}

    def load(self, kind: str, bucket: int, generation: str) -> Any:
        if (kind, generation) not in self.packed:
            return load_pickle(object_path(self.root, kind, bucket, generation))
        index = self._indexes.get((kind, generation))
        if index is None:
            index = load_pickle(self.root / generation / f"{kind}.idx")
            self._indexes[(kind, generation)] = index
        offset, length = index[bucket]
        with (self.root / generation / f"{kind}.pack").open("rb") as fh:
            fh.seek(offset)
            return pickle.loads(fh.read(length))


def dump_pickle(path: Path, value: Any, *, mkdir: bool = True) -> None:
    if mkdir:
        path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)


def load_pickle(path: Path) -> Any:
    with path.open("rb") as fh:
        return pickle.load(fh)


class ObjectWriter:
    """Writes changed buckets as objects of one generation; tracks every bucket's
    object (the previous set's for the buckets it does not write)."""

    def __init__(self, root: Path, generation: str, previous: Objects,
                 packed: set[tuple[str, str]]) -> None:
        self.root = root
        self.generation = generation
        self.objects: Objects = {kind: dict(by_bucket) for kind, by_bucket in previous.items()}
        self.reader = ObjectReader(root, set(packed))
        self._folder_made = False

    def write(self, kind: str, buckets: dict[int, Any]) -> None:
        if not buckets:
            return
        if not self._folder_made:
            (self.root / self.generation).mkdir(parents=True, exist_ok=True)
            self._folder_made = True
        by_bucket = self.objects.setdefault(kind, {})
        if len(buckets) >= PACK_MIN_BUCKETS:
            self._write_pack(kind, buckets)
        else:
            for bucket, value in buckets.items():
                dump_pickle(object_path(self.root, kind, bucket, self.generation), value,
                      mkdir=False)
        for bucket in buckets:
            by_bucket[bucket] = self.generation

    def _write_pack(self, kind: str, buckets: dict[int, Any]) -> None:
        index: dict[int, tuple[int, int]] = {}
        folder = self.root / self.generation
        with (folder / f"{kind}.pack").open("wb") as fh:
            offset = 0
            for bucket in sorted(buckets):
                data = pickle.dumps(buckets[bucket], protocol=pickle.HIGHEST_PROTOCOL)
                fh.write(data)
                index[bucket] = (offset, len(data))
                offset += len(data)
        dump_pickle(folder / f"{kind}.idx", index, mkdir=False)
        self.reader.packed.add((kind, self.generation))

    def check_reused(self, in_use: set[str]) -> None:
        """The objects named from the previous set must still be there: a writer that
        continued an older set (another writer replaced it meanwhile) may name objects
        already collected; it then rebuilds (FileNotFoundError, as for a vanished set)."""
        for generation in in_use - {self.generation}:
            if not (self.root / generation).is_dir():
                raise FileNotFoundError(self.root / generation)


def generations_of(objects: Objects) -> set[str]:
    return {generation for by_bucket in objects.values() for generation in by_bucket.values()}


def referenced_generations(folder: Path) -> set[str] | None:
    """The object generations the set ``folder`` refers to; None if unknown (a set
    being written, or of another layout, whose objects must not be collected)."""
    try:
        names = json.loads((folder / OBJECTS_FILE).read_bytes())
    except FileNotFoundError:
        return set() if (folder / "manifest.json").exists() else None
    except (OSError, ValueError):
        return None
    return {str(name) for name in names} if isinstance(names, list) else None


def collect_objects(versions: Path, kept: list[Path]) -> None:
    """Remove the object generations no kept set refers to (under the projections lock,
    after the kept sets are final). Objects of a set that a reader still reads from
    after its removal are recovered by that reader from the log, as a vanished set's."""
    root = versions / OBJECTS_DIR
    if not root.is_dir():
        return
    keep: set[str] = set()
    for folder in kept:
        generations = referenced_generations(folder)
        if generations is None:
            return  # cannot tell: keep everything this time
        keep |= generations
    for entry in root.iterdir():
        if entry.name not in keep:
            shutil.rmtree(entry, ignore_errors=True)
