"""The pure core's speed (the foundation issue's benchmark).

    python bench/core.py --json

``raw_verify_per_s``, ``decode_verify_per_s`` and ``ratio`` come from bench/core_decode.py
(10,000 realistic events, the ceiling measured in the same run; target ratio ≥ 0.8);
``fold_events_per_s`` folds the same events from scratch (sync.fold.fold) and
``apply_events_per_s`` applies them one by one to an incremental Ledger, in arrival order.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.core_decode import EVENTS, measure
from bench.workload import build_workload
from sync.fold import Ledger, fold


def fold_rates(events: int, seed: int, rounds: int = 3) -> dict[str, float]:
    chosen = list(build_workload(events // 5 + 1, orgs=40, seed=seed).events[:events])
    fold_best = apply_best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        fold(chosen)
        fold_best = min(fold_best, time.process_time() - started)
        started = time.process_time()
        ledger = Ledger()
        for event in chosen:
            ledger.apply(event)
        apply_best = min(apply_best, time.process_time() - started)
    return {
        "fold_events_per_s": round(len(chosen) / fold_best),
        "apply_events_per_s": round(len(chosen) / apply_best),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    result = measure(args.events, seed=args.seed)
    result["benchmark"] = "core"
    result.update(fold_rates(args.events, args.seed))
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>26}: {value}")


if __name__ == "__main__":
    main()
