"""The workspace definition: ``arco.toml`` → validated, typed assets, schedules and sensors.

The key table is closed (decisions A2): anything not listed is an error, so a typo never
silently changes behaviour. Every problem is collected and reported at once, sorted by
key path (decisions A8), so one edit-and-retry fixes the whole file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arco_cli.errors import ArcoError
from arco_cli.identity import AssetKeyError, canonical_asset_key, is_safe_id
from arco_cli.workspace import CONFIG_NAME, load_toml

# Built-in defaults (cli.md §1 example values, decisions A2).
BUILTIN_DEFAULTS: dict[str, int] = {
    "max_attempts": 3,
    "retry_delay_s": 0,
    "retry_max_delay_s": 900,
    "timeout_s": 3600,
    "heartbeat_timeout_s": 300,
    "freshness_max_lag_minutes": 1440,
}
# Smallest allowed value of each setting: attempts and time limits must be positive.
_SETTING_MINIMUM: dict[str, int] = {
    "max_attempts": 1,
    "retry_delay_s": 0,
    "retry_max_delay_s": 0,
    "timeout_s": 1,
    "heartbeat_timeout_s": 1,
    "freshness_max_lag_minutes": 0,
}
# u32 is the widest integer the events carry for these settings.
_U32_MAX = 2**32 - 1

_TOP_LEVEL_KEYS = ("workspace", "defaults", "assets", "schedules", "sensors", "parity")
_WORKSPACE_KEYS = ("tenant", "name")
_ASSET_KEYS = ("deps", "run", "python", "delta_table", "delta_mode", "partitioned_by",
               "code_version", *BUILTIN_DEFAULTS)
_SCHEDULE_KEYS = ("cron", "selection", "timezone", "catchup_window_minutes",
                  "max_catchup_ticks", "enabled", "partition_date")
_SENSOR_KEYS = ("kind", "python", "run", "selection", "min_interval_s", "paused")

_BARE_KEY_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_DIMENSION_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_CALLABLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*"
                          r":[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class AssetDef:
    key: str
    deps: tuple[str, ...]
    run: tuple[str, ...] | None
    python: str | None
    delta_table: str | None
    delta_mode: str
    partitioned_by: tuple[str, ...]
    code_version: str | None
    max_attempts: int
    retry_delay_s: int
    retry_max_delay_s: int
    timeout_s: int
    heartbeat_timeout_s: int
    freshness_max_lag_minutes: int


@dataclass(frozen=True)
class ScheduleDef:
    schedule_id: str
    cron: str                          # trimmed; 5 fields, or 6 with seconds first (A28)
    timezone: str                      # IANA name, trimmed
    selection: tuple[str, ...]         # canonical, unique, sorted (A32)
    catchup_window_minutes: int        # 0 means 24 h
    max_catchup_ticks: int
    enabled: bool
    partition_date: str                # "previous" | "tick" (A1)
    partitioned: bool                  # selection holds date-partitioned assets


@dataclass(frozen=True)
class SensorDef:
    sensor_id: str
    kind: str                          # "poll" | "push"
    python: str | None                 # evaluator "module:function" (exactly one of python/run)
    run: tuple[str, ...] | None        # evaluator argv
    selection: tuple[str, ...]         # canonical, unique, sorted
    min_interval_s: int
    paused: bool


@dataclass(frozen=True)
class WorkspaceDefinition:
    root: Path
    tenant_id: str
    workspace_id: str
    assets: dict[str, AssetDef]
    schedules: dict[str, ScheduleDef]
    sensors: dict[str, SensorDef]
    parity: dict[str, Any] | None


def key_path(*parts: str | int) -> str:
    """TOML dotted key path with quoting: ``assets."analytics.orders".deps[0]``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        segment = part if _BARE_KEY_RE.match(part) else '"' + part.replace("\\", "\\\\").replace(
            '"', '\\"') + '"'
        out += ("." if out else "") + segment
    return out


class _Problems:
    """Collects config problems; each becomes one INVALID_CONFIG error item."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.items: list[tuple[str, str]] = []

    def add(self, path: str, problem: str, fix: str) -> None:
        where = path or "(top level)"
        self.items.append((path, f"{where}: {problem}; {fix}"))

    def raise_if_any(self) -> None:
        if not self.items:
            return
        errors = [ArcoError("INVALID_CONFIG", message,
                            {"file": str(self.file), "keyPath": path})
                  for path, message in sorted(set(self.items))]
        count = len(errors)
        summary = (errors[0].message if count == 1
                   else f"{self.file}: {count} problems in {CONFIG_NAME}")
        raise ArcoError("INVALID_CONFIG", summary, errors[0].details if count == 1 else
                        {"file": str(self.file), "keyPath": ""}, problems=errors)


def _type_name(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string",
             list: "an array", dict: "a table"}
    return names.get(type(value), type(value).__name__)


class _Reader:
    """Typed access to one table, reporting wrong types and unknown keys as problems."""

    def __init__(self, problems: _Problems, table: dict[str, Any], path: tuple[str, ...],
                 allowed: tuple[str, ...]) -> None:
        self.problems = problems
        self.table = table
        self.path = path
        for key in table:
            if key not in allowed:
                problems.add(key_path(*path, key), f"unknown key {key!r}",
                             "remove it or use one of: " + ", ".join(sorted(allowed)))

    def kp(self, key: str, *rest: str | int) -> str:
        return key_path(*self.path, key, *rest)

    def string(self, key: str, *, required: bool = False, nonempty: bool = True) -> str | None:
        if key not in self.table:
            if required:
                self.problems.add(self.kp(key), f"missing required key {key!r}",
                                  f"add {key} = \"...\"")
            return None
        value = self.table[key]
        if not isinstance(value, str):
            self.problems.add(self.kp(key), f"expected a string, got {_type_name(value)}",
                              f'write {key} = "..."')
            return None
        if nonempty and not value.strip():
            self.problems.add(self.kp(key), "must not be empty", "give it a value")
            return None
        return value

    def integer(self, key: str, default: int, minimum: int = 0) -> int:
        if key not in self.table:
            return default
        value = self.table[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.problems.add(self.kp(key), f"expected an integer, got {_type_name(value)}",
                              f"write {key} = {default}")
            return default
        if not minimum <= value <= _U32_MAX:
            self.problems.add(self.kp(key), f"{value} is out of range",
                              f"use an integer between {minimum} and {_U32_MAX}")
            return default
        return value

    def boolean(self, key: str, default: bool) -> bool:
        if key not in self.table:
            return default
        value = self.table[key]
        if not isinstance(value, bool):
            self.problems.add(self.kp(key), f"expected a boolean, got {_type_name(value)}",
                              f"write {key} = true or {key} = false")
            return default
        return value

    def string_list(self, key: str, *, required: bool = False,
                    nonempty: bool = False) -> list[str] | None:
        if key not in self.table:
            if required:
                self.problems.add(self.kp(key), f"missing required key {key!r}",
                                  f'add {key} = ["..."]')
            return None
        value = self.table[key]
        if not isinstance(value, list):
            self.problems.add(self.kp(key), f"expected an array of strings, got "
                              f"{_type_name(value)}", f'write {key} = ["..."]')
            return None
        ok = True
        for i, item in enumerate(value):
            if not isinstance(item, str):
                self.problems.add(self.kp(key, i), f"expected a string, got {_type_name(item)}",
                                  "quote the value")
                ok = False
        if ok and nonempty and not value:
            self.problems.add(self.kp(key), "must not be empty", "list at least one value")
            return None
        return list(value) if ok else None


def _table(problems: _Problems, doc: dict[str, Any], path: tuple[str, ...], key: str,
           example: str) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        problems.add(key_path(*path, key), f"expected a table, got {_type_name(value)}",
                     f"write it as {example}")
        return {}
    return value


def _canonical_keys(problems: _Problems, items: list[str], path: tuple[str, ...], key: str,
                    known: dict[str, Any] | None, what: str) -> list[str]:
    """Canonicalise asset keys of a list, reporting invalid and (optionally) undefined ones."""
    out: list[str] = []
    for i, raw in enumerate(items):
        kp = key_path(*path, key, i)
        try:
            canonical = canonical_asset_key(raw)
        except AssetKeyError as exc:
            problems.add(kp, str(exc), "write the asset key as namespace.name, e.g. 'raw.orders'")
            continue
        if known is not None and canonical not in known:
            problems.add(kp, f"{what} undefined asset {canonical!r}",
                         f'define [assets."{canonical}"] or remove it')
            continue
        out.append(canonical)
    return out


def _argv(problems: _Problems, reader: _Reader, key: str) -> tuple[str, ...] | None:
    items = reader.string_list(key)
    if items is None:
        return None
    if not items or not items[0]:
        problems.add(reader.kp(key), "the command must not be empty",
                     f'write {key} = ["program", "arg", ...]')
        return None
    return tuple(items)


def _callable(problems: _Problems, reader: _Reader, key: str) -> str | None:
    value = reader.string(key)
    if value is not None and not _CALLABLE_RE.match(value):
        problems.add(reader.kp(key), f"{value!r} is not a callable reference",
                     f'write {key} = "module.path:function"')
        return None
    return value


def _looks_like_nested_asset(value: Any) -> bool:
    """``[assets.analytics.orders]`` (unquoted) nests ``orders`` inside ``analytics``."""
    return isinstance(value, dict) and bool(value) and all(
        isinstance(v, dict) for v in value.values())


def _flatten_nested(prefix: str, value: dict[str, Any]) -> list[str]:
    names: list[str] = []
    for key, item in value.items():
        name = f"{prefix}.{key}"
        if _looks_like_nested_asset(item) and not set(item) & set(_ASSET_KEYS):
            names.extend(_flatten_nested(name, item))
        else:
            names.append(name)
    return names


def _defaults(problems: _Problems, doc: dict[str, Any]) -> dict[str, int]:
    table = _table(problems, doc, (), "defaults", "[defaults]")
    reader = _Reader(problems, table, ("defaults",), tuple(BUILTIN_DEFAULTS))
    return {key: reader.integer(key, default, _SETTING_MINIMUM[key])
            for key, default in BUILTIN_DEFAULTS.items()}


def _assets(problems: _Problems, doc: dict[str, Any],
            defaults: dict[str, int]) -> tuple[dict[str, AssetDef], set[str]]:
    """The valid assets, and every defined asset key (valid or not)."""
    table = _table(problems, doc, (), "assets", '[assets."namespace.name"]')
    # First pass: which asset keys exist (deps are checked against this set).
    keys: dict[str, str] = {}
    for raw, value in table.items():
        path = key_path("assets", raw)
        try:
            canonical = canonical_asset_key(raw)
        except AssetKeyError as exc:
            if _looks_like_nested_asset(value) and "." not in raw and "/" not in raw:
                names = _flatten_nested(raw, value)
                problems.add(path, f"[assets.{names[0]}] is read by TOML as nested tables, "
                             f"not as the asset key {names[0]!r}",
                             f'quote the asset key: [assets."{names[0]}"]')
            else:
                problems.add(path, str(exc),
                             "write the asset key as namespace.name, e.g. 'raw.orders'")
            continue
        if not isinstance(value, dict):
            problems.add(path, f"expected a table, got {_type_name(value)}",
                         f'write it as [assets."{canonical}"]')
            continue
        if canonical in keys.values():
            problems.add(path, f"asset {canonical!r} is defined twice",
                         "keep one definition")
            continue
        keys[raw] = canonical

    assets: dict[str, AssetDef] = {}
    for raw, canonical in keys.items():
        asset = _asset(problems, raw, canonical, table[raw], defaults, set(keys.values()))
        if asset is not None:
            assets[canonical] = asset
    _check_cycles(problems, assets, {c: r for r, c in keys.items()})
    return dict(sorted(assets.items())), set(keys.values())


def _asset(problems: _Problems, raw: str, key: str, table: dict[str, Any],
           defaults: dict[str, int], known: set[str]) -> AssetDef | None:
    path = ("assets", raw)
    reader = _Reader(problems, table, path, _ASSET_KEYS)
    before = len(problems.items)
    deps_raw = reader.string_list("deps") or []
    deps = _canonical_keys(problems, deps_raw, path, "deps", dict.fromkeys(known), "depends on")
    for i, dep in enumerate(deps):
        if dep == key:
            problems.add(key_path(*path, "deps", i), "an asset cannot depend on itself",
                         "remove the dependency")
    run = _argv(problems, reader, "run")
    python = _callable(problems, reader, "python")
    if "run" in table and "python" in table:
        problems.add(key_path(*path), "both 'run' and 'python' are set",
                     "keep exactly one of them")
    elif "run" not in table and "python" not in table:
        problems.add(key_path(*path), "neither 'run' nor 'python' is set",
                     'add run = ["program", ...] or python = "module:function"')
    delta_table = reader.string("delta_table")
    partitioned = reader.string_list("partitioned_by") or []
    for i, dim in enumerate(partitioned):
        if not _DIMENSION_RE.match(dim):
            problems.add(key_path(*path, "partitioned_by", i),
                         f"partition column {dim!r} must match [a-z][a-z0-9_]*",
                         "use a lower-case column name")
    if len(set(partitioned)) != len(partitioned):
        problems.add(reader.kp("partitioned_by"), "partition columns repeat",
                     "list each column once")
    delta_mode = reader.string("delta_mode") or "overwrite"
    if delta_mode not in ("overwrite", "append"):
        problems.add(reader.kp("delta_mode"), f"unknown delta_mode {delta_mode!r}",
                     'use "overwrite" or "append"')
    elif delta_mode == "append" and partitioned:
        problems.add(reader.kp("delta_mode"),
                     "partitioned assets always overwrite exactly their partition",
                     'remove delta_mode or set it to "overwrite"')
    code_version = reader.string("code_version")
    settings = {name: reader.integer(name, defaults[name], _SETTING_MINIMUM[name])
                for name in BUILTIN_DEFAULTS}
    if len(problems.items) != before:
        return None
    return AssetDef(
        key=key, deps=tuple(sorted(set(deps))), run=run, python=python,
        delta_table=delta_table, delta_mode=delta_mode, partitioned_by=tuple(partitioned),
        code_version=code_version, **settings)


def _check_cycles(problems: _Problems, assets: dict[str, AssetDef],
                  raw_of: dict[str, str]) -> None:
    """Report each dependency cycle once, naming it from its smallest asset key."""
    state: dict[str, int] = {}   # 1 = on the stack, 2 = done
    stack: list[str] = []
    seen_cycles: set[tuple[str, ...]] = set()

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in assets[node].deps:
            if dep not in assets:
                continue
            if state.get(dep) == 1:
                cycle = stack[stack.index(dep):]
                start = cycle.index(min(cycle))
                ordered = tuple(cycle[start:] + cycle[:start])
                if ordered not in seen_cycles:
                    seen_cycles.add(ordered)
                    # edges point downstream-to-upstream; print the cycle in deps order
                    shown = " -> ".join((*ordered, ordered[0]))
                    problems.add(key_path("assets", raw_of[ordered[0]], "deps"),
                                 f"dependency cycle: {shown}",
                                 "remove one of these dependencies")
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(assets):
        if node not in state:
            visit(node)


def _selection(problems: _Problems, reader: _Reader, path: tuple[str, ...],
               known: set[str]) -> tuple[str, ...] | None:
    items = reader.string_list("selection", required=True, nonempty=True)
    if items is None:
        return None
    before = len(problems.items)
    keys = _canonical_keys(problems, items, path, "selection", dict.fromkeys(known),
                           "selects")
    if len(problems.items) != before:
        return None
    return tuple(sorted(set(keys)))


def _cron_problem(expr: str) -> str | None:
    from croniter import croniter

    fields = expr.split()
    if expr.startswith("@"):
        return "cron macros such as @daily are not supported"
    if len(fields) not in (5, 6):
        return f"expected 5 fields (or 6 with seconds first), got {len(fields)}"
    if not croniter.is_valid(expr, second_at_beginning=len(fields) == 6):
        return f"invalid cron expression {expr!r}"
    return None


def _timezone_problem(name: str) -> str | None:
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {name!r}"
    return None


def _check_id(problems: _Problems, kind: str, sid: str) -> bool:
    if is_safe_id(sid):
        return True
    problems.add(key_path(kind, sid), f"id {sid!r} must match [A-Za-z0-9][A-Za-z0-9_.@-]*",
                 "rename it without ':' or spaces")
    return False


def _schedules(problems: _Problems, doc: dict[str, Any], assets: dict[str, AssetDef],
               known: set[str]) -> dict[str, ScheduleDef]:
    out: dict[str, ScheduleDef] = {}
    for sid, table in _table(problems, doc, (), "schedules", "[schedules.NAME]").items():
        path = ("schedules", sid)
        if not isinstance(table, dict):
            problems.add(key_path(*path), f"expected a table, got {_type_name(table)}",
                         f"write it as [schedules.{sid}]")
            continue
        before = len(problems.items)
        _check_id(problems, "schedules", sid)
        reader = _Reader(problems, table, path, _SCHEDULE_KEYS)
        cron = reader.string("cron", required=True)
        if cron is not None:
            cron = cron.strip()
            problem = _cron_problem(cron)
            if problem:
                problems.add(reader.kp("cron"), problem,
                             'use 5 fields such as "0 2 * * *" (6 with seconds first)')
        timezone = (reader.string("timezone") or "UTC").strip()
        problem = _timezone_problem(timezone)
        if problem:
            problems.add(reader.kp("timezone"), problem,
                         'use an IANA name such as "UTC" or "Europe/Paris"')
        selection = _selection(problems, reader, path, known)
        partition_date = reader.string("partition_date") or "previous"
        if partition_date not in ("previous", "tick"):
            problems.add(reader.kp("partition_date"), f"unknown value {partition_date!r}",
                         'use "previous" or "tick"')
        partitioned = False
        for key in selection or ():
            if key not in assets:   # its own definition is already reported
                continue
            dims = assets[key].partitioned_by
            if dims and dims != ("date",):
                problems.add(reader.kp("selection"),
                             f"asset {key!r} is partitioned by {list(dims)}; schedules can "
                             "only request date partitions",
                             'select assets partitioned by ["date"] or unpartitioned ones')
            partitioned = partitioned or bool(dims)
        catchup = reader.integer("catchup_window_minutes", 0)
        ticks = reader.integer("max_catchup_ticks", 1)
        enabled = reader.boolean("enabled", True)
        if len(problems.items) != before or cron is None or selection is None:
            continue
        out[sid] = ScheduleDef(
            schedule_id=sid, cron=cron, timezone=timezone, selection=selection,
            catchup_window_minutes=catchup, max_catchup_ticks=ticks, enabled=enabled,
            partition_date=partition_date, partitioned=partitioned)
    return dict(sorted(out.items()))


def _sensors(problems: _Problems, doc: dict[str, Any],
             known: set[str]) -> dict[str, SensorDef]:
    out: dict[str, SensorDef] = {}
    for sid, table in _table(problems, doc, (), "sensors", "[sensors.NAME]").items():
        path = ("sensors", sid)
        if not isinstance(table, dict):
            problems.add(key_path(*path), f"expected a table, got {_type_name(table)}",
                         f"write it as [sensors.{sid}]")
            continue
        before = len(problems.items)
        _check_id(problems, "sensors", sid)
        reader = _Reader(problems, table, path, _SENSOR_KEYS)
        kind = reader.string("kind", required=True)
        if kind is not None and kind not in ("poll", "push"):
            problems.add(reader.kp("kind"), f"unknown sensor kind {kind!r}",
                         'use "poll" or "push"')
        python = _callable(problems, reader, "python")
        run = _argv(problems, reader, "run")
        if "run" in table and "python" in table:
            problems.add(key_path(*path), "both 'run' and 'python' are set",
                         "keep exactly one evaluator")
        elif "run" not in table and "python" not in table:
            problems.add(key_path(*path), "no evaluator: neither 'run' nor 'python' is set",
                         'add python = "module:function" or run = ["program", ...]')
        selection = _selection(problems, reader, path, known)
        min_interval = reader.integer("min_interval_s", 30)
        paused = reader.boolean("paused", False)
        if len(problems.items) != before or kind is None or selection is None:
            continue
        out[sid] = SensorDef(sensor_id=sid, kind=kind, python=python, run=run,
                             selection=selection, min_interval_s=min_interval, paused=paused)
    return dict(sorted(out.items()))


def _workspace_scope(problems: _Problems, doc: dict[str, Any]) -> tuple[str, str]:
    table = _table(problems, doc, (), "workspace", "[workspace]")
    reader = _Reader(problems, table, ("workspace",), _WORKSPACE_KEYS)
    return (reader.string("tenant") or "local", reader.string("name") or "default")


def parse_definition(root: Path, doc: dict[str, Any],
                     file: Path | None = None) -> WorkspaceDefinition:
    """Validate an already parsed ``arco.toml`` document (see :func:`load_definition`)."""
    problems = _Problems(file or root / CONFIG_NAME)
    for key in doc:
        if key not in _TOP_LEVEL_KEYS:
            problems.add(key_path(key), f"unknown table {key!r}",
                         "remove it or use one of: " + ", ".join(_TOP_LEVEL_KEYS))
    tenant_id, workspace_id = _workspace_scope(problems, doc)
    defaults = _defaults(problems, doc)
    assets, known = _assets(problems, doc, defaults)
    schedules = _schedules(problems, doc, assets, known)
    sensors = _sensors(problems, doc, known)
    parity = doc.get("parity")
    if parity is not None and not isinstance(parity, dict):
        problems.add("parity", f"expected a table, got {_type_name(parity)}",
                     "write it as [parity]")
        parity = None
    problems.raise_if_any()
    return WorkspaceDefinition(root=root, tenant_id=tenant_id, workspace_id=workspace_id,
                               assets=assets, schedules=schedules, sensors=sensors,
                               parity=parity)


def load_definition(root: Path) -> WorkspaceDefinition:
    """Read and validate ``root/arco.toml``; INVALID_CONFIG lists every problem."""
    path = root / CONFIG_NAME
    return parse_definition(root, load_toml(path), path)

