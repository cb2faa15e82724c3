"""How replicas converge: the HLC, identity, the fold (the CRDT), trust, and range-based set
reconciliation as a sans-IO state machine. Pure: no I/O, no asyncio."""

from sync.clock import Clock, ManualClock
from sync.fingerprint_index import FingerprintIndex, ItemKey
from sync.fold import DerivedState, Ledger, fold, fold_record
from sync.hlc import HybridClock
from sync.identity import Acting, Identity, build_identity
from sync.range_store import RangeStore, set_fingerprint
from sync.reconcile import Initiator, SessionOrderError, SessionState, respond
from sync.reconcile_tuning import (
    DEFAULT_LIMITS,
    DEFAULT_TUNING,
    Limits,
    Tuning,
    round_trip_bound,
)
from sync.trust_explain import (
    Explanation,
    FlowHop,
    FlowPath,
    LevelExplanation,
    Reason,
    SaturatedNode,
)
from sync.trust_metric import (
    DEFAULT_CAPACITIES,
    Acceptance,
    Endorsement,
    TrustMetric,
    compute_acceptance,
)

__all__ = [
    "DEFAULT_CAPACITIES",
    "DEFAULT_LIMITS",
    "DEFAULT_TUNING",
    "Acceptance",
    "Acting",
    "Clock",
    "DerivedState",
    "Endorsement",
    "Explanation",
    "FingerprintIndex",
    "FlowHop",
    "FlowPath",
    "HybridClock",
    "Identity",
    "Initiator",
    "ItemKey",
    "Ledger",
    "LevelExplanation",
    "Limits",
    "ManualClock",
    "RangeStore",
    "Reason",
    "SaturatedNode",
    "SessionOrderError",
    "SessionState",
    "TrustMetric",
    "Tuning",
    "build_identity",
    "compute_acceptance",
    "fold",
    "fold_record",
    "respond",
    "round_trip_bound",
    "set_fingerprint",
]
