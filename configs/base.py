"""Defaults shared by every training preset (stylegan2-ada-pytorch's, unless noted)."""
import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.batch_size = 32                 # global batch (all devices, all processes)
    # Data: 'shapes' (built-in scenes), 'digits' (sklearn), 'folder', 'tfds'.
    c.data = dict(source="shapes", resolution=32, num_images=50000, task="", cond=False,
                  path="", tfds_name="", data_dir="", mirror=False, split="train")
    # Networks: fields of GeneratorConfig / DiscriminatorConfig (resolution/channels from data).
    c.G = dict(z_dim=512, w_dim=512, mapping_layers=2, channel_base=16384, channel_max=512,
               architecture="skip", num_fp16_res=0, conv_clamp=None)
    c.D = dict(architecture="resnet", channel_base=16384, channel_max=512, num_fp16_res=0,
               conv_clamp=None, mbstd_group_size=4, mbstd_num_channels=1)
    c.loss = dict(r1_gamma=10.0, style_mixing_prob=0.9, pl_weight=2.0, pl_decay=0.01,
                  pl_batch_shrink=2)
    c.optim = dict(g_lr=0.0025, d_lr=0.0025, betas=(0.0, 0.99), eps=1e-8, g_reg_interval=4,
                   d_reg_interval=16)
    c.ema_kimg = 10.0
    c.ema_rampup = 0.05               # None disables the ramp-up
    # ADA: mode 'ada' (adaptive p), 'fixed' (p constant), 'noaug'.
    c.augment = dict(mode="ada", preset="bgc", p=0.0, target=0.6, interval=4, kimg=500.0)
    c.mesh = dict(fsdp=1)
    c.run = dict(total_kimg=25000.0, tick_kimg=4.0, snapshot_ticks=50, image_ticks=50,
                 keep=5, grid=(8, 4), allow_low_precision_on_cpu=False,
                 # float32 convolutions/matmuls: 'float32' (true fp32, the official default
                 # allow_tf32=False) or 'tensorfloat32' / 'default' (TF32 on NVIDIA GPUs: faster,
                 # ~1e-3 relative error). No effect on CPU.
                 matmul_precision="float32")
    # Metrics of G_ema every `ticks` ticks (0 = off), added to metrics.jsonl; see
    # jaxgan/metrics/training.py. names: comma-separated, e.g. "fd_classifier,ppl_wend".
    c.metrics = dict(names="", ticks=0, num_gen=2000, num_real=2000, num_ppl=1000, batch_size=64,
                     feature_net="")
    return c
