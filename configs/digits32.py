"""Class-conditional StyleGAN2 on scikit-learn's real handwritten digits, 32², 1 channel."""
from . import base


def get_config():
    c = base.get_config()
    c.batch_size = 16
    c.data.update(source="digits", resolution=32, cond=True, split="train")
    c.G.update(z_dim=64, w_dim=64, mapping_layers=2, channel_base=2048, channel_max=64)
    c.D.update(channel_base=2048, channel_max=64, mbstd_group_size=4)
    c.loss.r1_gamma = 0.0002 * 32 ** 2 / 16
    c.ema_kimg = 16 * 10 / 32
    c.augment.update(mode="ada", preset="bgc")   # 1442 images: ADA matters
    c.run.update(total_kimg=50.0, tick_kimg=1.0, snapshot_ticks=5, image_ticks=5, keep=2)
    return c
