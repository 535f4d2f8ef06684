"""GAN Dissection for StyleGAN2 (Bau et al. 2019): units of any synthesis layer, their
concepts (IoU with a segmenter), their causal effect (ablation / insertion, ACE), optimised
partial interventions, artifact units, and report sheets.

Modules: :mod:`~jaxgan.dissect.features` (read / replace feature maps, pure),
:mod:`~jaxgan.dissect.stats` (exact streaming top-quantile thresholds, IoU counts),
:mod:`~jaxgan.dissect.characterize` (the two-pass dissection runner),
:mod:`~jaxgan.dissect.intervene` (ablation, insertion, ACE, ablation curves),
:mod:`~jaxgan.dissect.alpha_opt` (alpha* by optax), :mod:`~jaxgan.dissect.artifacts`,
:mod:`~jaxgan.dissect.study` (per-concept causal study), :mod:`~jaxgan.dissect.report`.
"""
from jaxgan.dissect.alpha_opt import alpha_loss, optimize_alpha
from jaxgan.dissect.artifacts import (artifact_study, causal_artifact_effects,
                                      classifier_confidence, classifier_features,
                                      discriminator_realism, frechet_distance, rank_artifact_units)
from jaxgan.dissect.characterize import LayerDissection, dissect
from jaxgan.dissect.features import (feature_names, feature_shape, replace_units, sample_latents,
                                     sample_ws, synthesize_edited, synthesize_features)
from jaxgan.dissect.intervene import (ablate, ablation_curve, average_causal_effect,
                                      concept_fraction, insert, intervene_images, unit_ace)
from jaxgan.dissect.stats import quantile_init, quantile_result, quantile_update

__all__ = [
    "LayerDissection", "ablate", "ablation_curve", "alpha_loss", "artifact_study",
    "average_causal_effect", "causal_artifact_effects", "classifier_confidence",
    "classifier_features", "concept_fraction", "discriminator_realism",
    "dissect", "feature_names", "feature_shape", "frechet_distance", "insert",
    "intervene_images", "optimize_alpha", "quantile_init", "quantile_result", "quantile_update",
    "rank_artifact_units", "replace_units", "sample_latents", "sample_ws", "synthesize_edited",
    "synthesize_features", "unit_ace",
]
