"""Latent directions: GANalyze, steerability, InterFaceGAN, GANSpace, SeFa.

One API shape for every method: ``fit_*(...) -> Directions`` and
``apply(direction, latents, alpha, layers=None, space=...)`` (batched over alpha and over
directions). The learned methods are optax problems whose loss closes over the frozen
generator and run on device (``lax.scan`` chunks); several steering edits train at once
under ``vmap``.
"""
from jaxgan.directions.apply import (Directions, apply, layer_mask, parse_layers, render,
                                     sample_latents, shift, unit)
from jaxgan.directions.ganalyze import assessor_curve, fit_ganalyze, fit_slope
from jaxgan.directions.ganspace import fit_ganspace, pca
from jaxgan.directions.interfacegan import (boundary_accuracy, conditional_direction,
                                            fit_boundary, fit_interfacegan, fit_linear_boundary,
                                            select_extremes)
from jaxgan.directions.sefa import fit_sefa, style_layers
from jaxgan.directions.steer import fit_steer, steerability, walk_apply

__all__ = ["Directions", "apply", "assessor_curve", "boundary_accuracy", "conditional_direction",
           "fit_boundary", "fit_ganalyze", "fit_ganspace", "fit_interfacegan",
           "fit_linear_boundary", "fit_sefa", "fit_slope", "fit_steer", "layer_mask",
           "parse_layers", "pca", "render", "sample_latents", "select_extremes", "shift",
           "steerability", "style_layers", "unit", "walk_apply"]
