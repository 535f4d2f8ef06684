"""Built-in shapes scenes at 32², unconditional: the README main job (CPU, minutes)."""
from . import base


def get_config():
    c = base.get_config()
    c.batch_size = 16
    c.data.update(source="shapes", resolution=32, num_images=20000)
    c.G.update(z_dim=64, w_dim=64, mapping_layers=2, channel_base=2048, channel_max=64)
    c.D.update(channel_base=2048, channel_max=64, mbstd_group_size=4)
    c.loss.r1_gamma = 0.0002 * 32 ** 2 / 16      # the official 'auto' heuristic
    c.ema_kimg = 16 * 10 / 32
    c.augment.mode = "noaug"
    c.run.update(total_kimg=20.0, tick_kimg=1.0, snapshot_ticks=5, image_ticks=5, keep=2)
    return c
