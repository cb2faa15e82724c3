"""Durable storage: one SQLite file per node with the events and the materialised fold."""

from node.storage.queries import Counts, RecordQuery, RecordSummary
from node.storage.store import AdmissionPolicy, Outcome, OutcomeStatus, Store

__all__ = [
    "AdmissionPolicy",
    "Counts",
    "Outcome",
    "OutcomeStatus",
    "RecordQuery",
    "RecordSummary",
    "Store",
]
