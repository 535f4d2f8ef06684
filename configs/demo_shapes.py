"""The README main job's generator (``jaxgan demo``): ``shapes32`` (built-in shapes at 32²)
with half its channels, trained for 14 kimg, so that the whole demo (G, StylEx, inversion, a
direction, AttFind, dissection, explorer) fits in 15 minutes on 2 CPU cores. Samples are
blurry at this length; ``shapes32`` is the quality preset."""
from . import shapes32


def get_config():
    c = shapes32.get_config()
    c.data.num_images = 8000
    c.G.update(channel_base=1024, channel_max=32)
    c.D.update(channel_base=1024, channel_max=32)
    c.run.update(total_kimg=14.0, tick_kimg=1.0, snapshot_ticks=2, image_ticks=4, keep=2)
    return c
