"""Benchmarks and their shared workload (bench/workload.py). Run scripts from the repo root."""
