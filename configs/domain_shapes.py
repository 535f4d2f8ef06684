"""Few-shot domain adaptation (StyleDomain) of the shapes32 generator to *inverted* scenes
(negative colours, same layout) from 10 images, 32², CPU. A configuration of the StyleGAN2
trainer: the ``domain`` group loads the source G/D (the committed shapes32 fixtures),
picks what trains and adds the consistency term (``jaxgan.domain``).

Train with ``jaxgan adapt train --config domain_shapes --out OUT [domain.param=affine_plus]``;
compare the parameterisations with ``jaxgan adapt report --out out/domain_shapes``.

``domain.param``: ``'offset'`` (one StyleSpace direction, G frozen), ``'affine_plus'``
(affines + ToRGB), ``'affine_light_plus'`` (rank-``domain.rank`` affine updates + ToRGB),
``'full'`` (every G parameter; the baseline).
"""
from . import base

PRETRAINED_G = "builtin:G_shapes32_60k"
PRETRAINED_D = "builtin:D_shapes32_60k"


def get_config():
    c = base.get_config()
    c.batch_size = 8
    # 10 target images: scenes 0..9 of seed 0 in the 'inverted' domain (data.domain).
    c.data.update(source="shapes", resolution=32, num_images=10, domain="inverted")
    c.G.update(z_dim=64, w_dim=64, mapping_layers=2, channel_base=2048, channel_max=64)
    c.D.update(channel_base=2048, channel_max=64, mbstd_group_size=4)
    c.loss.r1_gamma = 0.0002 * 32 ** 2 / 8
    c.loss.pl_weight = 0.0                 # no path-length term in a few hundred steps
    c.optim.g_lr = 0.002
    c.optim.d_lr = 0.002
    c.ema_kimg = 0.5
    c.ema_rampup = None
    # ADA against memorising 10 images; geometric ops only ('bg'): the colour ops include a
    # luma flip, which at high p would leak exactly the inversion we adapt to.
    c.augment.update(mode="ada", preset="bg", p=0.0, target=0.6, interval=4, kimg=4.0)
    c.run.update(total_kimg=3.2, tick_kimg=0.4, snapshot_ticks=3, image_ticks=3, keep=2,
                 grid=(8, 2))
    c.domain = dict(
        param="offset",                    # 'full' | 'offset' | 'affine_plus' | 'affine_light_plus'
        rank=4,                            # AffineLight+ rank
        # Style layers ('b4,b8.conv1'; '' = all), one string or per parameterisation. The
        # StyleDomain offset acts on the ToRGB styles only: a palette change then cannot move
        # the layout (all layers: the offset also moved horizons and objects toward the 10
        # targets; layout IoU vs source 0.72, ToRGB only 0.88, chance 0.70).
        layers=dict(offset="b4.torgb,b8.torgb,b16.torgb,b32.torgb"),
        # G-side learning rate per parameterisation (0: optim.g_lr): the few style offsets /
        # low-rank factors need larger steps than the full network.
        lr=dict(full=0.005, offset=0.05, affine_plus=0.01, affine_light_plus=0.02),
        init_from=PRETRAINED_G, init_d_from=PRETRAINED_D,
        update_buffers=False,              # keep the source G's w_avg
        seed=0,
        consistency=dict(weight=1.0, kind="cdc", layers=("b8.conv1", "b16.conv1"),
                         temperature=1.0, batch=8),
    )
    return c
