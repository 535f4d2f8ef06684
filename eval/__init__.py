"""Evaluation entry points (``python -m jaxgan.eval.generate``, metrics)."""
