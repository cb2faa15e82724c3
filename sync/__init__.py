"""How replicas converge: the HLC, identity, the fold (the CRDT), trust, and range-based set
reconciliation as a sans-IO state machine. Pure: no I/O, no asyncio."""

from sync.clock import Clock, ManualClock
from sync.fold import DerivedState, Ledger, fold, fold_record
from sync.hlc import HybridClock
from sync.identity import Acting, Identity, build_identity
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
    "Acceptance",
    "Acting",
    "Clock",
    "DerivedState",
    "Endorsement",
    "Explanation",
    "FlowHop",
    "FlowPath",
    "HybridClock",
    "Identity",
    "Ledger",
    "LevelExplanation",
    "ManualClock",
    "Reason",
    "SaturatedNode",
    "TrustMetric",
    "build_identity",
    "compute_acceptance",
    "fold",
    "fold_record",
]
