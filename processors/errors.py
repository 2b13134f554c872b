"""Errors of the processor and of replay.

ProcessorError
├── TopicsMissing: a topic the processor (or replay) reads or writes does not exist (run `callapi-events topics
│   create`, or check CALLAPI_TOPIC_PREFIX).
├── PartitionMismatch: `call-events`, `event-requests` (or the table's changelog) differ in partition count,
│   so the config table would not be co-partitioned with the events.
├── GapUnreadable: offsets the stream skipped could not be read from the broker in time; the processor stops
│   without committing past them, and a restart reads them again.
├── ReplayError: a replay window or filter that cannot be honoured.
└── ReplayInterrupted: Ctrl-C stopped a replay; the message says how many jobs went and what was left.
"""

from __future__ import annotations


class ProcessorError(Exception):
    """Root of the processor's errors; the message says what to do next."""


class TopicsMissing(ProcessorError):
    pass


class PartitionMismatch(ProcessorError):
    pass


class GapUnreadable(ProcessorError):
    pass


class ReplayError(ProcessorError):
    pass


class ReplayInterrupted(ProcessorError):
    pass
