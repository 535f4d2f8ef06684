"""The official 'stylegan2' preset (config F of the StyleGAN2 paper) for a folder dataset.

Set ``data.path`` and ``data.resolution`` (e.g. 1024); ``mesh.fsdp`` to shard parameters.
"""
from . import base


def get_config():
    c = base.get_config()
    c.batch_size = 32
    c.data.update(source="folder", resolution=1024, mirror=True)
    c.G.update(z_dim=512, w_dim=512, mapping_layers=8, channel_base=32768, channel_max=512,
               num_fp16_res=4, conv_clamp=256.0)
    c.D.update(channel_base=32768, channel_max=512, num_fp16_res=4, conv_clamp=256.0,
               mbstd_group_size=4)
    c.optim.update(g_lr=0.002, d_lr=0.002)
    c.loss.r1_gamma = 10.0
    c.ema_kimg = 10.0
    c.ema_rampup = None
    c.run.update(total_kimg=25000.0, tick_kimg=4.0, snapshot_ticks=50, image_ticks=50)
    return c
