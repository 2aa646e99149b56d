"""The durable append-only event log: segments, commit point, writer lock, torn-tail repair.

See ``docs/log.md`` for the on-disk format and its guarantees.
"""

from arco_cli.log.commit import CommitPoint
from arco_cli.log.store import EventLog, LogRecord
from arco_cli.log.writer import LogWriter

__all__ = ["CommitPoint", "EventLog", "LogRecord", "LogWriter"]
