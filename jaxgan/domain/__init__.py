"""Few-shot domain adaptation in StyleSpace (StyleDomain, Alanov et al. 2023).

* :mod:`jaxgan.domain.params` — parameterisations (full, StyleSpace offset, Affine+,
  AffineLight+): masks for the optimiser, the domain applied to G's params, counts.
* :mod:`jaxgan.domain.losses` — consistency toward the frozen source generator.
* :mod:`jaxgan.domain.trainer` — the trainer extension (``domain`` config group);
  :mod:`jaxgan.domain.setup` — its options and the export/loading of domain parameters.
* :mod:`jaxgan.domain.mix` — mixing two StyleDomain directions, morph strips.
* :mod:`jaxgan.domain.evaluate` / :mod:`jaxgan.domain.report` — FD to held-out target
  images, segmenter mask IoU source vs adapted, PNG/JSON/Markdown report.
"""
from jaxgan.domain.params import (PARAMS, apply_masked_updates, count_trained_params,  # noqa: F401
                                  effective_params, init_domain_params, make_masked_optimizer,
                                  offset_styles, select_layers, style_layers, trainable_mask)
