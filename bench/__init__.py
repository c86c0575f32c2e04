"""Benchmark scripts: run each as `.venv/bin/python bench/<name>.py`; figures go in README."""
