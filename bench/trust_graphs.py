"""Realistic endorsement graphs for the trust benchmark (bench/trust.py).

Shape, after how the 2020 groups actually vouched for each other:

* orgs live in regions (a prefecture's hospital-support, driver and mask groups know each
  other); about 80% of endorsements stay inside the region;
* every org joined through an introduction by an org already present (mostly a neighbour),
  so the graph is one web rather than islands;
* activity is heavy-tailed (a few coordinators endorse a lot) and attention is preferential
  (well-endorsed orgs attract more endorsements);
* a fifth of endorsements are at ``verifier`` level; ``max_depth`` is mostly generous,
  sometimes 1–4, sometimes 0 ("I vouch for them, not for whom they vouch");
* seeds are the node's own org plus two pinned roots in other regions.

Deterministic for a given ``random.Random``.
"""

from __future__ import annotations

import bisect
import itertools
import random

from protocol.trust_bodies import MAX_ENDORSE_DEPTH, Level
from sync.trust_metric import Endorsement

ORGS_PER_REGION = 40
IN_REGION = 0.8
VERIFIER_SHARE = 0.2


class FederationGenerator:
    """A federation's orgs and seeds (index 0 is the node's own org), and endorsements
    among them drawn with the shape described in the module docstring."""

    def __init__(self, rng: random.Random, orgs: int, seeds: int = 3) -> None:
        self.rng = rng
        self.orgs = tuple(rng.randbytes(32) for _ in range(orgs))
        regions = max(1, orgs // ORGS_PER_REGION)
        self.region = [i % regions for i in range(orgs)]
        self.seeds = tuple(self.orgs[:seeds])  # indices 0..seeds-1 sit in different regions
        activity = [rng.paretovariate(1.6) for _ in range(orgs)]
        for i in range(seeds):
            activity[i] *= 5
        self.activity_cumulative = list(itertools.accumulate(activity))
        # Urns for preferential attachment: an org appears once, plus once per endorsement.
        self.urn = list(range(orgs))
        self.region_urn: list[list[int]] = [[] for _ in range(regions)]
        for i in range(orgs):
            self.region_urn[self.region[i]].append(i)
        self.pairs: set[tuple[int, int]] = set()

    def draw(self, count: int) -> list[Endorsement]:
        """``count`` new endorsements: the introductions first (on the first call), then
        random endorsements between orgs not yet linked."""
        edges = [] if self.pairs else self.introductions()[:count]
        while len(edges) < count:
            edges.append(self.endorsement())
        return edges

    def introductions(self) -> list[Endorsement]:
        """One introduction for every non-seed org, by an org that joined before it."""
        edges = []
        for subject in range(len(self.seeds), len(self.orgs)):
            earlier = [i for i in self.region_urn[self.region[subject]] if i < subject]
            if earlier and self.rng.random() < IN_REGION:
                issuer = self.rng.choice(earlier)
            else:
                issuer = self.rng.randrange(subject)
            edges.append(self._endorse(issuer, subject))
        return edges

    def endorsement(self) -> Endorsement:
        """One more endorsement between two distinct orgs not yet linked."""
        while True:
            issuer = bisect.bisect_left(
                self.activity_cumulative, self.rng.random() * self.activity_cumulative[-1]
            )
            if self.rng.random() < IN_REGION:
                subject = self.rng.choice(self.region_urn[self.region[issuer]])
            else:
                subject = self.rng.choice(self.urn)
            if subject != issuer and (issuer, subject) not in self.pairs:
                return self._endorse(issuer, subject)

    def _endorse(self, issuer: int, subject: int) -> Endorsement:
        self.pairs.add((issuer, subject))
        self.urn.append(subject)
        self.region_urn[self.region[issuer]].append(subject)
        roll = self.rng.random()
        if roll < 0.5:
            max_depth = MAX_ENDORSE_DEPTH
        elif roll < 0.75:
            max_depth = self.rng.randint(2, 4)
        elif roll < 0.9:
            max_depth = 1
        else:
            max_depth = 0
        return Endorsement(
            issuer=self.orgs[issuer],
            subject=self.orgs[subject],
            level=Level.VERIFIER if self.rng.random() < VERIFIER_SHARE else Level.MEMBER,
            max_depth=max_depth,
            event_id=self.rng.randbytes(32),
        )


def sybil_nest(
    rng: random.Random, keys: int, per_key: int, victims: tuple[bytes, ...]
) -> tuple[tuple[bytes, ...], list[Endorsement]]:
    """``keys`` attacker keys, each endorsing ``per_key`` others in the nest at the most
    permissive level and depth, and a tenth of them also endorsing honest ``victims`` (to
    look connected). Returns the keys and the nest's edges; the attack edge is the caller's."""
    sybils = tuple(rng.randbytes(32) for _ in range(keys))
    edges = []
    for key in sybils:
        for other in rng.sample(sybils, per_key):
            if other != key:
                edges.append(_attacker_edge(rng, key, other))
        if rng.random() < 0.1:
            edges.append(_attacker_edge(rng, key, rng.choice(victims)))
    return sybils, edges


def _attacker_edge(rng: random.Random, issuer: bytes, subject: bytes) -> Endorsement:
    return Endorsement(
        issuer=issuer,
        subject=subject,
        level=Level.VERIFIER,
        max_depth=MAX_ENDORSE_DEPTH,
        event_id=rng.randbytes(32),
    )
