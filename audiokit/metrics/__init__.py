"""Metrics: each checked in tests against a reference implementation or hand-made values."""
