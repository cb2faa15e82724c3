"""Durable storage: one SQLite file per node with the events and the materialised fold."""

from node.storage.queries import Counts, LineSummary, RecordQuery, RecordSummary
from node.storage.store import AdmissionPolicy, Outcome, OutcomeStatus, Store

__all__ = [
    "AdmissionPolicy",
    "Counts",
    "LineSummary",
    "Outcome",
    "OutcomeStatus",
    "RecordQuery",
    "RecordSummary",
    "Store",
]
