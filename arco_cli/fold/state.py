"""The fold state: every projection table as plain dicts keyed by primary key, plus the
private bookkeeping an incremental fold needs (decisions A41).

Rows hold Parquet-ready values (epoch-ms ints, canonical JSON strings, upper-case enums)
except for three columns kept as Python values while folding, because they are rewritten
often: ``runs.labels``/``runs.trigger`` are stored already encoded, ``tasks.attempt_history``
is a list of ``(attempt, created_by_event_id, entry)`` and ``event_outcomes`` /
``idempotency_keys`` rows are tuples (one per event: dicts would double the memory of a
1M-event fold). :meth:`FoldState.rows` and :meth:`FoldState.get` convert on the way out.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from arco_cli.fold.jsonenc import canonical_text
from arco_cli.projections.schemas import column_names

TABLES = (
    "runs", "tasks", "dep_satisfaction", "run_key_index", "run_key_conflicts",
    "partition_status", "idempotency_keys", "schedule_definitions", "schedule_state",
    "schedule_ticks", "sensor_state", "sensor_evals", "backfills", "backfill_chunks",
    "event_outcomes",
)

#: column order of the tuple rows of ``event_outcomes``
OUTCOME_COLUMNS = (
    "event_id", "event_type", "idempotency_key", "outcome", "reason", "detail",
    "log_offset", "run_id", "task_key", "expected_idempotency_key", "diagnostics",
)
OUTCOME_RUN_ID = OUTCOME_COLUMNS.index("run_id")

TERMINAL_TASK_STATES = frozenset({"SUCCEEDED", "FAILED", "SKIPPED", "CANCELLED"})
TERMINAL_RUN_STATES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})


class LazyMap(dict[Any, Any]):
    """A dict whose entries are loaded bucket by bucket on first touch (a stored fold
    state only reads the buckets an incremental fold needs). Several maps may share one
    ``pending`` set and ``load``, which fills them all with ``dict.update``; iterating or
    sizing the map loads every pending bucket first."""

    def __init__(self, bucket: Callable[[Any], int], load: Callable[[int], None],
                 pending: set[int]) -> None:
        super().__init__()
        self._bucket = bucket
        self._load = load
        self._pending = pending

    def _need(self, key: Any) -> None:
        if self._pending:
            bucket = self._bucket(key)
            if bucket in self._pending:
                self._load(bucket)

    def load_all(self) -> None:
        for bucket in sorted(self._pending):
            if bucket in self._pending:
                self._load(bucket)

    def __getitem__(self, key: Any) -> Any:
        self._need(key)
        return dict.__getitem__(self, key)

    def get(self, key: Any, default: Any = None) -> Any:
        self._need(key)
        return dict.get(self, key, default)

    def __contains__(self, key: object) -> bool:
        self._need(key)
        return dict.__contains__(self, key)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._need(key)
        dict.__setitem__(self, key, value)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        self._need(key)
        return dict.setdefault(self, key, default)

    def pop(self, key: Any, *default: Any) -> Any:
        self._need(key)
        return dict.pop(self, key, *default)

    def __iter__(self) -> Any:
        self.load_all()
        return dict.__iter__(self)

    def __len__(self) -> int:
        self.load_all()
        return dict.__len__(self)

    def keys(self) -> Any:
        self.load_all()
        return dict.keys(self)

    def values(self) -> Any:
        self.load_all()
        return dict.values(self)

    def items(self) -> Any:
        self.load_all()
        return dict.items(self)

    def __reduce__(self) -> tuple[Any, ...]:
        self.load_all()
        return (dict, (dict(dict.items(self)),))


def load_everything(state: FoldState) -> None:
    """Load every pending bucket of a lazily restored state."""
    for name in ("runs", "tasks", "deps", "dependents", "idempotency_keys"):
        value = getattr(state, name)
        if isinstance(value, LazyMap):
            value.load_all()


class Row:
    """A mutable row of one of the big per-run tables, read and written like a dict
    (``row["state"]``) but stored in slots: a third of a dict's memory at 1M events."""

    __slots__ = ()
    COLUMNS: ClassVar[tuple[str, ...]] = ()
    #: the values in COLUMNS order in one C call (pickling a 1M-event state calls it
    #: once per row)
    VALUES: ClassVar[Any]
    __getitem__ = object.__getattribute__
    __setitem__ = object.__setattr__

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        names = cls.COLUMNS
        # attrgetter is no descriptor, a function would bind: hence staticmethod
        cls.VALUES = operator.attrgetter(*names) if len(names) > 1 else staticmethod(
            lambda row: tuple(getattr(row, name) for name in names))
        if names:
            # one straight-line store per column instead of a loop of calls: plans
            # create tens of thousands of rows per 100k events
            source = "def __init__(self, values):\n" + "".join(
                f"    self.{name} = values[{name!r}]\n" for name in names)
            namespace: dict[str, Any] = {}
            exec(compile(source, f"<{cls.__name__}.__init__>", "exec"), namespace)
            cls.__init__ = namespace["__init__"]  # type: ignore[method-assign]

    def __init__(self, values: dict[str, Any]) -> None:
        for name in self.COLUMNS:
            object.__setattr__(self, name, values[name])

    def as_dict(self) -> dict[str, Any]:
        return {name: object.__getattribute__(self, name) for name in self.COLUMNS}

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore_row, (type(self), self.VALUES(self)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Row) and type(other) is type(self) \
            and self.as_dict() == other.as_dict()

    __hash__ = None  # type: ignore[assignment]


def _restore_row(cls: type[Row], values: tuple[Any, ...]) -> Row:
    row = cls.__new__(cls)
    for name, value in zip(cls.COLUMNS, values, strict=True):
        object.__setattr__(row, name, value)
    return row


class RunRow(Row):
    __slots__ = column_names("runs")
    COLUMNS = column_names("runs")


class TaskRow(Row):
    __slots__ = column_names("tasks")
    COLUMNS = column_names("tasks")


class EdgeRow(Row):
    __slots__ = column_names("dep_satisfaction")
    COLUMNS = column_names("dep_satisfaction")


_dumps = canonical_text


def attempt_history_json(history: list[tuple[int, str, dict[str, Any]]] | None) -> str | None:
    if not history:
        return None
    entries = [history[0][2]] if len(history) == 1 else \
        [entry for _a, _e, entry in sorted(history, key=lambda h: (h[0], h[1]))]
    import orjson

    try:
        # entries hold only ints, strings and booleans, which orjson writes exactly as
        # the canonical encoder does (a string it refuses, e.g. a lone surrogate, falls
        # back)
        return orjson.dumps(entries, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        return _dumps(entries)


class FoldState:
    """All folded state of one log. Mutated only by :func:`arco_cli.fold.fold_records`."""

    def __init__(self, tenant_id: str, workspace_id: str, secret: bytes = b"") -> None:
        self.tenant_id = tenant_id
        self.workspace_id = workspace_id
        self.secret = secret
        self.watermark_event_id: str | None = None
        self.log_offset = 0
        #: (segment, byte) where the record at ``log_offset`` begins, when known: the next
        #: incremental fold seeks there instead of scanning the segment (set by the caller
        #: that folded up to a commit point; the fold itself reads no files)
        self.log_position: tuple[int, int] | None = None
        # --- projection tables
        self.runs: dict[str, Any] = {}  # run_id → RunRow
        self.tasks: dict[str, dict[str, Any]] = {}  # run_id → task_key → TaskRow
        self.deps: dict[str, dict[tuple[str, str], Any]] = {}  # run → (up, down) → EdgeRow
        self.run_key_index: dict[str, dict[str, Any]] = {}
        self.run_key_conflicts: dict[tuple[str, str], dict[str, Any]] = {}
        self.partition_status: dict[tuple[str, str], dict[str, Any]] = {}
        # key → (event_id, event_type, recorded_at, payload digest, recorded run id)
        self.idempotency_keys: dict[str, tuple[str, str, int, bytes, str | None]] = {}
        self.schedule_definitions: dict[str, dict[str, Any]] = {}
        self.schedule_state: dict[str, dict[str, Any]] = {}
        self.schedule_ticks: dict[str, dict[str, Any]] = {}
        self.sensor_state: dict[str, dict[str, Any]] = {}
        self.sensor_evals: dict[str, dict[str, Any]] = {}
        self.backfills: dict[str, dict[str, Any]] = {}
        self.backfill_chunks: dict[str, dict[str, Any]] = {}
        self.event_outcomes: dict[str, tuple[Any, ...]] = {}
        # --- private fold state (decisions A41)
        #: run → task → dependents / upstreams, in plan order
        self.dependents: dict[str, dict[str, list[str]]] = {}
        #: dispatch_id → record; (run, task, attempt) → dispatch_id
        self.dispatches: dict[str, dict[str, Any]] = {}
        self.dispatch_by_attempt: dict[tuple[str, str, int], str] = {}
        self.timers: dict[str, dict[str, Any]] = {}
        #: run_key → the accepted request's carried payload (for conflict ``differences``)
        self.accepted_requests: dict[str, dict[str, Any]] = {}
        #: (run_key, conflicting fingerprint) → conflict PK (occurrence rule)
        self.conflict_by_fingerprint: dict[tuple[str, str], tuple[str, str]] = {}
        #: run_id → event ids of its outcome rows (explain's ignored events)
        self.outcomes_by_run: dict[str, list[str]] = {}
        #: cache of run_id_from_run_key (HMAC) results
        self.derived_run_ids: dict[str, str] = {}
        #: rows of the append-only tables added since the projections were last written
        self.unpersisted_outcomes: list[str] = []
        self.unpersisted_keys: list[str] = []
        #: outcome rows folded before a reload stay on disk until someone reads them
        #: (the fold itself never needs them); see :meth:`defer_outcomes`
        self._outcome_loader: Callable[[], Iterable[tuple[Any, ...]]] | None = None

    def __getstate__(self) -> dict[str, Any]:
        # The tenant secret never goes to disk (whoever loads the state sets it again);
        # outcome rows live in their Parquet parts and the run-id cache is recomputable.
        return {**self.__dict__, "secret": b"", "event_outcomes": {}, "outcomes_by_run": {},
                "derived_run_ids": {}, "_outcome_loader": None}

    def defer_outcomes(self, loader: Callable[[], Iterable[tuple[Any, ...]]]) -> None:
        """Outcome rows folded earlier are read by ``loader`` when first needed."""
        self._outcome_loader = loader

    def load_outcomes(self) -> None:
        loader, self._outcome_loader = self._outcome_loader, None
        if loader is None:
            return
        newer = self.event_outcomes
        self.event_outcomes = {row[0]: tuple(row) for row in loader()}
        self.event_outcomes.update(newer)
        by_run: dict[str, list[str]] = {}
        for event_id, row in self.event_outcomes.items():
            if row[OUTCOME_RUN_ID] is not None:
                by_run.setdefault(row[OUTCOME_RUN_ID], []).append(event_id)
        self.outcomes_by_run = by_run

    # ------------------------------------------------------------------ reading

    def rows(self, table: str) -> list[dict[str, Any]]:
        """Every row of ``table`` sorted by primary key, exact §9 columns."""
        scope = {"tenant_id": self.tenant_id, "workspace_id": self.workspace_id}
        if table == "runs":
            return [self.runs[k].as_dict() for k in sorted(self.runs)]
        if table == "tasks":
            return [self._task_out(self.tasks[r][t]) for r in sorted(self.tasks)
                    for t in sorted(self.tasks[r])]
        if table == "dep_satisfaction":
            return [self.deps[r][e].as_dict() for r in sorted(self.deps)
                    for e in sorted(self.deps[r])]
        if table == "idempotency_keys":
            return [self._key_out(k) for k in sorted(self.idempotency_keys)]
        if table == "event_outcomes":
            self.load_outcomes()
            return [dict(zip(OUTCOME_COLUMNS, self.event_outcomes[k], strict=True))
                    for k in sorted(self.event_outcomes)]
        source: dict[Any, dict[str, Any]] = getattr(self, table)
        if table not in TABLES:
            raise KeyError(table)
        return [{**scope, **source[k]} for k in sorted(source)]

    def get(self, table: str, pk: tuple[Any, ...]) -> dict[str, Any] | None:
        """One row by its §9 primary key (scope columns included where the table has them)."""
        if table == "runs":
            row = self.runs.get(pk[0])
            return row.as_dict() if row is not None else None
        if table == "tasks":
            task = self.tasks.get(pk[0], {}).get(pk[1])
            return self._task_out(task) if task is not None else None
        if table == "dep_satisfaction":
            edge = self.deps.get(pk[0], {}).get((pk[1], pk[2]))
            return edge.as_dict() if edge is not None else None
        if table == "event_outcomes":
            self.load_outcomes()
            out = self.event_outcomes.get(pk[0])
            return dict(zip(OUTCOME_COLUMNS, out, strict=True)) if out is not None else None
        if table not in TABLES:
            raise KeyError(table)
        if tuple(pk[:2]) != (self.tenant_id, self.workspace_id):
            return None
        rest = pk[2:]
        if table == "idempotency_keys":
            return self._key_out(rest[0]) if rest[0] in self.idempotency_keys else None
        source: dict[Any, dict[str, Any]] = getattr(self, table)
        found = source.get(rest[0] if len(rest) == 1 else tuple(rest))
        if found is None:
            return None
        return {"tenant_id": self.tenant_id, "workspace_id": self.workspace_id, **found}

    def tasks_of(self, run_id: str) -> list[dict[str, Any]]:
        tasks = self.tasks.get(run_id, {})
        return [self._task_out(tasks[k]) for k in sorted(tasks)]

    def edges_of(self, run_id: str) -> list[dict[str, Any]]:
        edges = self.deps.get(run_id, {})
        return [edges[k].as_dict() for k in sorted(edges)]

    def outcomes_of(self, run_id: str) -> list[dict[str, Any]]:
        self.load_outcomes()
        return [dict(zip(OUTCOME_COLUMNS, self.event_outcomes[e], strict=True))
                for e in sorted(self.outcomes_by_run.get(run_id, ()))]

    def row_count(self, table: str) -> int:
        if table == "event_outcomes":
            self.load_outcomes()
        if table == "tasks":
            return sum(len(t) for t in self.tasks.values())
        if table == "dep_satisfaction":
            return sum(len(d) for d in self.deps.values())
        if table not in TABLES:
            raise KeyError(table)
        return len(getattr(self, table))

    def _task_out(self, row: Row) -> dict[str, Any]:
        out = row.as_dict()
        out["attempt_history"] = attempt_history_json(row["attempt_history"])
        return out

    def _key_out(self, key: str) -> dict[str, Any]:
        event_id, event_type, recorded_at, _digest, _run = self.idempotency_keys[key]
        return {"tenant_id": self.tenant_id, "workspace_id": self.workspace_id,
                "idempotency_key": key, "event_id": event_id, "event_type": event_type,
                "recorded_at": recorded_at, "row_version": event_id}
