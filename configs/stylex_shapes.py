"""StylEx on the built-in shapes scenes, task ``large_high_horizon`` (label = large object AND
high horizon: two planted factors that the 32² base generator draws well), 32², CPU. A
configuration of the StyleGAN2 trainer: the ``stylex`` group adds the classifier-conditioned
generator, the encoder path and the frozen classifier.

Train with ``jaxgan explain train --config stylex_shapes --out OUT`` (or
``jaxgan train --config stylex_shapes --out OUT``). ``stylex.init_from`` starts G (and D,
the encoder backbone) from a plain run's export, which saves most of the CPU time; set it
to ``''`` to train from scratch. ``stylex.init_e_from`` starts the encoder from an inversion
encoder of that G.

``large_low_horizon`` (the same factors, low horizon), ``red_high_horizon`` (red object AND
high horizon; preset ``stylex_shapes_red``) and ``circle_and_sun`` (circle AND sun) are the
other two-factor tasks: override ``data.task`` and ``stylex.classifier``
(``builtin:classifier_shapes_<task>``). ``circle_and_sun``'s 2-px suns are
drawn by too few of the base G's samples for the encoder path to learn them at CPU budgets
(README).
"""
from . import base

CLASSIFIER = "builtin:classifier_shapes_large_high_horizon"
PRETRAINED_G = "builtin:G_shapes32_60k"
PRETRAINED_D = "builtin:D_shapes32_60k"
PRETRAINED_E = "builtin:encoder_shapes32_60k"


def get_config():
    c = base.get_config()
    c.batch_size = 16
    c.data.update(source="shapes", resolution=32, num_images=20000, task="large_high_horizon",
                  cond=False)
    c.G.update(z_dim=64, w_dim=64, mapping_layers=2, channel_base=2048, channel_max=64)
    c.D.update(channel_base=2048, channel_max=64, mbstd_group_size=4)
    c.loss.r1_gamma = 0.0002 * 32 ** 2 / 16
    c.ema_kimg = 16 * 10 / 32
    c.augment.mode = "noaug"
    c.run.update(total_kimg=20.0, tick_kimg=0.5, snapshot_ticks=4, image_ticks=4, keep=2)
    c.stylex = dict(
        classifier=CLASSIFIER,
        mode="alternate",                 # encoder path every other step ('combined': every step)
        d_on_rec=True,                    # D's fakes on even steps: the reconstructions
        init_from=PRETRAINED_G,           # '' trains G from scratch
        init_d_from=PRETRAINED_D,         # D and the encoder backbone ('' : from scratch)
        init_e_from=PRETRAINED_E,         # the encoder (`jaxgan train-encoder` of that G)
        lpips="alexnet",                  # 'vgg16' | 'alexnet' | '' (no LPIPS term)
        # A pretrained encoder is fine-tuned gently: at lr 0.0025 / beta1 0 (the G settings)
        # and adversarial weight 1 its reconstructions degraded (PSNR 19.8 -> 16.6 dB in 16 kimg).
        e_lr=0.0005, betas=(0.9, 0.99), e_channel_base=2048, e_channel_max=64, seed=0,
        # Reproducibility-study weights: 10 x (L1 1, LPIPS 0.1, latent cycle 0.1); KL; adversarial.
        loss=dict(l1=1.0, lpips=0.1, cycle=0.1, scale=10.0, kl=1.0, adv=0.1),
    )
    return c
