"""Evaluation entry points (``python -m eval.generate``, metrics)."""
