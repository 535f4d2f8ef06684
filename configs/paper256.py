"""The official 'paper256' preset (FFHQ/LSUN at 256² in the ADA paper) for a folder dataset.

Set ``data.path=/path/to/images``; ``mesh.fsdp`` to shard parameters on big meshes.
"""
from . import base


def get_config():
    c = base.get_config()
    c.batch_size = 64
    c.data.update(source="folder", resolution=256, mirror=True)
    c.G.update(z_dim=512, w_dim=512, mapping_layers=8, channel_base=16384, channel_max=512,
               num_fp16_res=4, conv_clamp=256.0)
    c.D.update(channel_base=16384, channel_max=512, num_fp16_res=4, conv_clamp=256.0,
               mbstd_group_size=8)
    c.optim.update(g_lr=0.0025, d_lr=0.0025)
    c.loss.r1_gamma = 1.0
    c.ema_kimg = 20.0
    c.ema_rampup = None
    c.run.update(total_kimg=25000.0, tick_kimg=4.0, snapshot_ticks=50, image_ticks=50)
    return c
