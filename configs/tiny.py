"""Tiny preset for tests and smoke runs: 16² shapes, a few channels, a few steps."""
from . import base


def get_config():
    c = base.get_config()
    c.batch_size = 4
    c.data.update(source="shapes", resolution=16, num_images=256)
    c.G.update(z_dim=16, w_dim=16, mapping_layers=2, channel_base=128, channel_max=16)
    c.D.update(channel_base=128, channel_max=16, mbstd_group_size=2)
    c.augment.mode = "noaug"
    c.ema_kimg = 0.01
    c.run.update(total_kimg=0.032, tick_kimg=0.008, snapshot_ticks=1, image_ticks=2, keep=3,
                 grid=(4, 2))
    return c
