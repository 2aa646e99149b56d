"""Identity: canonical JSON, time encoding, ULIDs, run ids, asset keys and partition keys.

Everything here is pure and deterministic (data-model §4, §10); the only exception is
:class:`UlidGenerator`, which reads the clock to mint new event ids for writers (never
called by the fold).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

# --------------------------------------------------------------------------- JSON

_I64_MIN = -(2**63)
_U64_MAX = 2**64 - 1


class CanonicalJsonError(ValueError):
    """A value that has no canonical JSON form (float, huge int, lone surrogate...)."""


def _check_canonical(value: Any, path: str = "$") -> None:
    if value is None or isinstance(value, bool | str):
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise CanonicalJsonError(f"lone surrogate in string at {path}") from exc
        return
    if isinstance(value, int):
        if not _I64_MIN <= value <= _U64_MAX:
            raise CanonicalJsonError(f"integer out of range at {path}")
        return
    if isinstance(value, float):
        raise CanonicalJsonError(f"floats are not allowed (at {path})")
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_canonical(item, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalJsonError(f"non-string object key at {path}")
            _check_canonical(key, path)
            _check_canonical(item, f"{path}.{key}")
        return
    raise CanonicalJsonError(f"unsupported value of type {type(value).__name__} at {path}")


def canonical_json(value: Any, *, checked: bool = True) -> str:
    """Canonical JSON (data-model §10.1). ``checked=False`` skips validation for values
    already known to be canonical-safe (hot paths of the fold)."""
    if checked:
        _check_canonical(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise CanonicalJsonError(f"duplicate object key {key!r}")
        out[key] = value
    return out


def _reject_float(text: str) -> Any:
    raise CanonicalJsonError(f"floats are not allowed: {text}")


def _reject_constant(text: str) -> Any:
    raise CanonicalJsonError(f"{text} is not allowed")


def loads_strict(text: str | bytes) -> Any:
    """Parse JSON that must be canonical-safe: no floats, NaN, duplicate keys, lone
    surrogates or out-of-range integers. Raises ``ValueError`` (incl. JSONDecodeError)."""
    value = json.loads(text, object_pairs_hook=_reject_duplicate_keys, parse_float=_reject_float,
                       parse_constant=_reject_constant)
    _check_canonical(value)
    return value


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- time

_TS_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|z|[+-]\d{2}:\d{2})$"
)


def parse_timestamp_ms(text: str) -> int:
    """RFC 3339 → UTC epoch milliseconds, floored (any fraction length, any offset)."""
    m = _TS_RE.match(text)
    if m is None:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    frac = m.group(7) or ""
    offset = m.group(8)
    moment = dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.timezone.utc)
    epoch_s = (moment - _EPOCH).days * 86400 + (moment - _EPOCH).seconds
    ms = epoch_s * 1000 + (int(frac[:3].ljust(3, "0")) if frac else 0)
    if offset not in ("Z", "z"):
        sign = 1 if offset[0] == "+" else -1
        oh, om = int(offset[1:3]), int(offset[4:6])
        if oh > 23 or om > 59:
            raise ValueError(f"invalid offset in timestamp: {text!r}")
        ms -= sign * (oh * 3600 + om * 60) * 1000
    return ms


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def format_ms(ms: int) -> str:
    """UTC epoch milliseconds → ``YYYY-MM-DDTHH:MM:SS.sssZ``."""
    moment = _EPOCH + dt.timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def now_ms() -> int:
    """Wall clock in epoch ms. Writers only; the fold never calls this."""
    return time.time_ns() // 1_000_000


def anchored_clock(start_ms: int) -> Callable[[], int]:
    """A clock that reads ``start_ms`` now and advances with the monotonic clock: the
    time base of runs executed by a command given ``--now`` (decisions A31)."""
    origin = time.monotonic_ns()
    return lambda: start_ms + (time.monotonic_ns() - origin) // 1_000_000


# --------------------------------------------------------------------------- ULIDs

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CROCKFORD_SET = frozenset(CROCKFORD + CROCKFORD.lower())
_ULID_RE = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$")


def is_ulid(event_id: str) -> bool:
    return len(event_id) == 26 and _ULID_RE.match(event_id) is not None


def _ulid_to_int(text: str) -> int:
    value = 0
    for ch in text.upper():
        value = value * 32 + CROCKFORD.index(ch)
    return value


def _int_to_ulid(value: int) -> str:
    chars = []
    for _ in range(26):
        chars.append(CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def ulid_time_ms(event_id: str) -> int:
    """The 48-bit millisecond time embedded in a ULID (its *server time*, §4.1)."""
    value = 0
    for ch in event_id[:10].upper():
        value = value * 32 + CROCKFORD.index(ch)
    return value


class UlidGenerator:
    """Monotonic ULID generator (§4.1): strictly increasing per process, and always
    greater than ``floor`` (the greatest ULID-shaped id already in the log, compared
    upper-cased per decisions A49) even when the clock goes backwards."""

    def __init__(self, floor: str | None = None) -> None:
        self._lock = threading.Lock()
        self._last = _ulid_to_int(floor) if floor and is_ulid(floor) else -1

    def observe(self, event_id: str) -> None:
        """Raise the floor to ``event_id`` when it is a greater ULID."""
        if is_ulid(event_id):
            with self._lock:
                self._last = max(self._last, _ulid_to_int(event_id))

    def new(self, at_ms: int | None = None) -> str:
        ms = now_ms() if at_ms is None else at_ms
        candidate = (ms << 80) | secrets.randbits(80)
        with self._lock:
            if candidate <= self._last:
                candidate = self._last + 1
            self._last = candidate
        return _int_to_ulid(candidate)


_DEFAULT_GENERATOR = UlidGenerator()


def new_ulid(at_ms: int | None = None) -> str:
    return _DEFAULT_GENERATOR.new(at_ms)


# --------------------------------------------------------------------------- run ids

class TenantSecretError(ValueError):
    pass


def tenant_secret() -> bytes:
    """The HMAC key of run ids: base64 of ``ARCO_TENANT_SECRET_B64`` (empty when unset)."""
    raw = os.environ.get("ARCO_TENANT_SECRET_B64", "")
    if not raw:
        return b""
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise TenantSecretError(
            "ARCO_TENANT_SECRET_B64 is not valid base64; fix or unset it") from exc


def run_id_from_run_key(tenant_id: str, workspace_id: str, run_key: str,
                        secret: bytes = b"") -> str:
    """Deterministic run id of a run-keyed run (§4.4)."""
    mac = hmac.new(secret, f"{tenant_id}:{workspace_id}:{run_key}".encode(),
                   hashlib.sha256).digest()[:16]
    return "run_" + base64.b32encode(mac).decode("ascii").rstrip("=").lower()


def secret_check(tenant_id: str, workspace_id: str, secret: bytes = b"") -> str:
    return run_id_from_run_key(tenant_id, workspace_id, "arco:secret-check", secret)


def new_run_id() -> str:
    return "run_" + new_ulid()


# --------------------------------------------------------------------------- other ids

_SAFE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")


def is_safe_id(value: str) -> bool:
    """Ids used inside colon-joined keys (§4.5): never contain ``:``."""
    return _SAFE_ID_RE.match(value) is not None


def dispatch_id(run_id: str, task_key: str, attempt: int) -> str:
    return f"dispatch:{run_id}:{task_key}:{attempt}"


def attempt_id(run_id: str, task_key: str, attempt: int) -> str:
    digest = hashlib.sha256(b"attempt:" + dispatch_id(run_id, task_key, attempt).encode())
    return "att_" + digest.digest()[:12].hex()


def cloud_task_id(internal_id: str, prefix: str) -> str:
    digest = hashlib.sha256(internal_id.encode()).digest()
    return f"{prefix}_" + base64.b32encode(digest).decode().rstrip("=")[:26].lower()


def partition_id(asset_key: str, partition_key: str) -> str:
    return "part_" + sha256_hex(f"{asset_key}:{partition_key}")[:32]


def retry_timer_id(run_id: str, task_key: str, attempt: int, fire_epoch_s: int) -> str:
    return f"timer:retry:{run_id}:{task_key}:{attempt}:{fire_epoch_s}"


def validate_run_key(run_key: str) -> str | None:
    """Why a user-supplied run key is invalid (§4.2), or None when it is fine."""
    if not run_key:
        return "run key must not be empty"
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in run_key):
        return "run key must not contain whitespace or control characters"
    if run_key.startswith("run_"):
        return "run key must not start with 'run_' (reserved for run ids)"
    return None


# --------------------------------------------------------------------------- asset keys

_SEGMENT_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class AssetKeyError(ValueError):
    pass


def canonical_asset_key(text: str) -> str:
    """``namespace.name`` or ``namespace/name`` → canonical ``namespace.name`` (§10.2)."""
    if text != text.strip() or any(ch.isspace() for ch in text):
        raise AssetKeyError(f"invalid asset key {text!r}: whitespace is not allowed")
    if "/" in text:
        namespace, _, name = text.partition("/")
    elif "." in text:
        namespace, _, name = text.partition(".")
    else:
        raise AssetKeyError(
            f"invalid asset key {text!r}: expected 'namespace.name' (e.g. 'raw.orders')")
    segments = [namespace, *name.split(".")]
    for seg in segments:
        if not _SEGMENT_RE.match(seg):
            raise AssetKeyError(
                f"invalid asset key {text!r}: segment {seg!r} must match [a-z][a-z0-9_]*")
    return ".".join(segments)


# --------------------------------------------------------------------------- partitions

class PartitionKeyError(ValueError):
    pass


_DIM_KEY_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_INT_RE = re.compile(r"^(0|-?[1-9][0-9]*)$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TS27_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
_BARE_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

PartitionValue = str | int | bool | None


def _check_date(value: str) -> dt.date:
    if not _DATE_RE.match(value):
        raise PartitionKeyError(f"invalid date {value!r}: expected YYYY-MM-DD")
    try:
        day = dt.date(int(value[:4]), int(value[5:7]), int(value[8:10]))
    except ValueError as exc:
        raise PartitionKeyError(f"invalid date {value!r}: {exc}") from exc
    if not 1970 <= day.year <= 9999:
        raise PartitionKeyError(f"invalid date {value!r}: year must be 1970-9999")
    return day


def _decode_dim(tag: str, value: str) -> PartitionValue:
    if tag == "s":
        try:
            padded = value + "=" * (-len(value) % 4)
            raw = base64.urlsafe_b64decode(padded.encode("ascii"))
            text = raw.decode("utf-8")
        except (ValueError, UnicodeError) as exc:
            raise PartitionKeyError(f"invalid base64url string value {value!r}") from exc
        if base64.urlsafe_b64encode(raw).decode().rstrip("=") != value:
            raise PartitionKeyError(f"non-canonical base64url string value {value!r}")
        return text
    if tag == "i":
        if not _INT_RE.match(value) or not _I64_MIN <= int(value) < 2**63:
            raise PartitionKeyError(f"invalid integer value {value!r}")
        return int(value)
    if tag == "b":
        if value not in ("true", "false"):
            raise PartitionKeyError(f"invalid boolean value {value!r}")
        return value == "true"
    if tag == "d":
        _check_date(value)
        return value
    if tag == "t":
        if not _TS27_RE.match(value):
            raise PartitionKeyError(
                f"invalid timestamp value {value!r}: expected YYYY-MM-DDTHH:MM:SS.ffffffZ")
        _check_date(value[:10])
        hour, minute, second = int(value[11:13]), int(value[14:16]), int(value[17:19])
        if hour > 23 or minute > 59 or second > 59:
            raise PartitionKeyError(f"invalid timestamp value {value!r}")
        return value
    if tag == "n":
        if value != "null":
            raise PartitionKeyError(f"invalid null value {value!r}")
        return None
    raise PartitionKeyError(f"unknown partition value tag {tag!r}")


def parse_partition_key(key: str) -> list[tuple[str, str, PartitionValue]]:
    """Strictly parse a partition key into (dimension, tag, decoded value) triples."""
    if key == "":
        return []
    dims: list[tuple[str, str, PartitionValue]] = []
    for part in key.split(","):
        name, eq, rest = part.partition("=")
        if not eq:
            raise PartitionKeyError(f"invalid partition key {key!r}: {part!r} lacks '='")
        tag, colon, value = rest.partition(":")
        if not colon:
            raise PartitionKeyError(f"invalid partition key {key!r}: {part!r} lacks 'tag:'")
        if not _DIM_KEY_RE.match(name):
            raise PartitionKeyError(
                f"invalid partition key {key!r}: dimension {name!r} must match [a-z][a-z0-9_]*")
        try:
            decoded = _decode_dim(tag, value)
        except PartitionKeyError as exc:
            raise PartitionKeyError(f"invalid partition key {key!r}: {exc}") from None
        dims.append((name, tag, decoded))
    names = [d[0] for d in dims]
    if len(set(names)) != len(names):
        raise PartitionKeyError(f"invalid partition key {key!r}: duplicate dimension")
    if names != sorted(names):
        raise PartitionKeyError(f"invalid partition key {key!r}: dimensions must be sorted")
    return dims


def encode_partition_value(value: PartitionValue) -> str:
    """Encode a Python value as ``tag:value`` (strings become ``s:``)."""
    if value is None:
        return "n:null"
    if isinstance(value, bool):
        return "b:" + ("true" if value else "false")
    if isinstance(value, int):
        return f"i:{value}"
    return "s:" + base64.urlsafe_b64encode(value.encode("utf-8")).decode().rstrip("=")


def is_canonical_partition_key(key: str) -> bool:
    try:
        parse_partition_key(key)
    except PartitionKeyError:
        return False
    return True


def canonical_partition_key(text: str) -> str:
    """Command-line partition key → canonical key; a bare date means ``date=d:DATE``."""
    if _BARE_DATE_RE.match(text):
        _check_date(text)
        return f"date=d:{text}"
    parse_partition_key(text)
    return text


def partition_values(key: str) -> dict[str, PartitionValue]:
    """Decoded values of a canonical key; ``{}`` for ``""`` or a non-canonical key."""
    try:
        return {name: value for name, _tag, value in parse_partition_key(key)}
    except PartitionKeyError:
        return {}


def partition_dimensions(key: str) -> list[str]:
    return [name for name, _tag, _value in parse_partition_key(key)]


# --------------------------------------------------------------------------- fingerprints

def request_fingerprint(
    selection: Iterable[str],
    partitions: Iterable[str],
    *,
    include_upstream: bool = False,
    include_downstream: bool = False,
    labels: Mapping[str, str] | None = None,
    parent_run_id: str | None = None,
    rerun_kind: str | None = None,
) -> str:
    """``sha256_hex(canonical_json(P))`` of data-model §4.3. ``selection`` must already be
    canonical asset keys (or task keys for reruns); order and duplicates do not matter."""
    payload: dict[str, Any] = {
        "selection": sorted(set(selection)),
        "partitions": sorted(set(partitions)),
        "include_upstream": include_upstream,
        "include_downstream": include_downstream,
        "labels": {k: v for k, v in (labels or {}).items() if not k.startswith("arco.")},
    }
    if parent_run_id is not None:
        payload["parent_run_id"] = parent_run_id
    if rerun_kind is not None:
        payload["rerun_kind"] = rerun_kind
    return sha256_hex(canonical_json(payload))
