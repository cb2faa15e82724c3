"""bench/core_decode.py: a tiny run produces the documented JSON fields with sane values."""

from __future__ import annotations

import json

import pytest

from bench.core_decode import main, measure


def test_measure_reports_both_rates_and_their_ratio() -> None:
    result = measure(events=300, rounds=1)
    assert result["events"] == 300
    raw, full = result["raw_verify_per_s"], result["decode_verify_per_s"]
    assert isinstance(raw, int) and isinstance(full, int)
    assert 0 < full < raw * 1.5  # decoding includes the same verification
    assert result["ratio"] == pytest.approx(full / raw, abs=0.01)
    assert sum(result["kinds"].values()) == 300  # type: ignore[union-attr]


def test_json_flag_prints_one_object(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--json", "--events", "100", "--rounds", "1"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert {"raw_verify_per_s", "decode_verify_per_s", "ratio"} <= set(printed)
