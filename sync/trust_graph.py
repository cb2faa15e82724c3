"""From the fold's endorsement views to the trust metric's edges, at a viewer's clock.

The fold (sync/fold.py) says, for each ``endorse`` event, which org issued it, which org its
subject key belongs to, and whether it was revoked by someone entitled to; identity
(sync/identity.py) says which orgs are duplicitous. What remains is time: an endorsement counts
until its ``expires`` plus a tolerance for clock skew between the endorser and this node
(DESIGN §4: ±5 minutes). Pure: the viewer's clock is a parameter.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from protocol.trust_bodies import Level
from sync.identity import Identity
from sync.trust_metric import Endorsement
from sync.views import EndorsementView

__all__ = ["CLOCK_SKEW_MS", "EdgeStatus", "edge_status", "trust_edges"]

CLOCK_SKEW_MS = 5 * 60 * 1000


class EdgeStatus(StrEnum):
    """Why an endorsement does or does not count as an edge right now."""

    LIVE = "live"
    NOT_ISSUED = "not_issued"  # its author could not endorse for any org at that hlc
    REVOKED = "revoked"
    EXPIRED = "expired"
    DUPLICITOUS = "duplicitous"  # issuer or subject org forked its key chain
    SELF = "self"  # an org endorsing itself adds nothing


def edge_status(view: EndorsementView, identity: Identity, now_ms: int) -> EdgeStatus:
    if view.issuer is None:
        return EdgeStatus.NOT_ISSUED
    if view.revoked_by is not None:
        return EdgeStatus.REVOKED
    if now_ms > view.expires + CLOCK_SKEW_MS:
        return EdgeStatus.EXPIRED
    if identity.is_duplicitous(view.issuer) or identity.is_duplicitous(view.subject_org):
        return EdgeStatus.DUPLICITOUS
    if view.issuer == view.subject_org:
        return EdgeStatus.SELF
    return EdgeStatus.LIVE


def trust_edges(
    views: Iterable[EndorsementView], identity: Identity, now_ms: int
) -> list[Endorsement]:
    """The live edges, one per event. Deterministic in the set of views (sorted by id)."""
    edges = []
    for view in sorted(views, key=lambda v: v.id):
        if edge_status(view, identity, now_ms) is not EdgeStatus.LIVE:
            continue
        assert view.issuer is not None
        edges.append(
            Endorsement(
                issuer=view.issuer,
                subject=view.subject_org,
                level=Level(view.level),
                max_depth=view.max_depth,
                event_id=view.id,
            )
        )
    return edges
