"""Helpers of ``scripts/generate_suite.py``: one module per category plus shared drawing code."""
