"""Ensembling with deep generative views (gan-ensembling, Chai et al. 2021): latent
perturbations (:mod:`.perturb`), batched views (:mod:`.views`), alpha selection and bootstrap
intervals (:mod:`.combine`) and the whole experiment (:mod:`.experiment`)."""
from jaxgan.ensemble.combine import (accuracy_curve, alpha_grid, bootstrap_ci, ensemble_probs,
                                     evaluate_method, select_alpha)
from jaxgan.ensemble.perturb import (KINDS, LAYERS, PCABasis, PerturbSpec, layer_mask,
                                     layer_ranges, paper_specs, parse_spec, pca_basis, pca_of,
                                     perturb_batch, perturb_batch_with, perturb_one, perturb_with,
                                     spec_params, dummy_basis, view_keys)
from jaxgan.ensemble.views import (SOURCES, JitterSpec, gan_views, jitter_one, jitter_params,
                                   jitter_views, jitter_with, make_view_probs, make_views,
                                   params_for, source_of)

__all__ = ["KINDS", "LAYERS", "JitterSpec", "PCABasis", "PerturbSpec", "accuracy_curve",
           "alpha_grid", "bootstrap_ci", "ensemble_probs", "evaluate_method", "gan_views",
           "jitter_one", "jitter_views", "layer_mask", "layer_ranges", "make_view_probs",
           "make_views", "paper_specs", "parse_spec", "pca_basis", "pca_of", "perturb_batch",
           "perturb_one", "select_alpha", "view_keys", "SOURCES", "perturb_batch_with",
           "perturb_with", "spec_params", "dummy_basis", "jitter_params", "jitter_with",
           "params_for", "source_of"]
