"""The vanilla baseline of ``stylex_shapes`` (``jaxgan explain compare``): the same base
generator (``builtin:G_shapes32_60k`` with its D) trained on for the same kimg on the same
data (the ``large_high_horizon`` scenes, labels unused) with the plain StyleGAN2 losses and
the same G/D settings, but without the classifier, the encoder path or the StylEx condition.

It runs through the ``domain`` group only to start every parameter from the pretrained
networks (``param='full'``: all of G trains; no consistency term, buffers updated as in plain
training), so the two generators differ only in the StylEx training. Train 40 kimg (as the
built-in StylEx) with ``jaxgan train --config vanilla_shapes --out OUT``, then its inversion
encoder with ``jaxgan train-encoder`` (docs/stylex.md, "Measured as the paper measures it").
"""
from . import stylex_shapes


def get_config():
    c = stylex_shapes.get_config()
    del c.stylex
    c.run.update(total_kimg=40.0)
    c.domain = dict(param="full", layers="", lr=dict(full=0.0), rank=4,
                    init_from=stylex_shapes.PRETRAINED_G, init_d_from=stylex_shapes.PRETRAINED_D,
                    update_buffers=True, seed=0, consistency=dict(weight=0.0))
    return c
