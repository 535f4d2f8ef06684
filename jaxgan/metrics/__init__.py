"""Generative-model metrics: Fréchet distance (FID / ``fd_<features>``), kernel distance
(KID / ``kd_<features>``), improved precision/recall (``pr_<features>``) and perceptual path
length (``ppl_wend``), computed offline with streaming statistics and pluggable feature
networks (:mod:`jaxgan.metrics.features`).

Modules: :mod:`~jaxgan.metrics.stats` (streaming mean/covariance, on-disk cache),
:mod:`~jaxgan.metrics.frechet`, :mod:`~jaxgan.metrics.kid`,
:mod:`~jaxgan.metrics.precision_recall`, :mod:`~jaxgan.metrics.ppl`,
:mod:`~jaxgan.metrics.features`, :mod:`~jaxgan.metrics.runner` (checkpoint vs dataset).
"""
from jaxgan.metrics.frechet import frechet_distance  # noqa: F401
from jaxgan.metrics.kid import kernel_distance  # noqa: F401
from jaxgan.metrics.precision_recall import precision_recall  # noqa: F401
from jaxgan.metrics.stats import FeatureStats  # noqa: F401
