"""The StylEx of the README main job (``jaxgan demo``): ``demo_shapes``'s generator
conditioned on the two-factor classifier ``circle_and_sun`` (circle AND sun), initialised
from a ``demo_shapes`` export (``stylex.init_from`` / ``stylex.init_d_from``, set by the
demo) and trained briefly with the encoder path (no LPIPS term, for CPU time)."""
from . import demo_shapes

#: The task's classifier (``jaxgan demo`` passes the same one, ``jaxgan.demo.CLASSIFIER``).
CLASSIFIER = "builtin:classifier_shapes_circle_and_sun"


def get_config():
    c = demo_shapes.get_config()
    c.data.update(task="circle_and_sun", cond=False)
    c.run.update(total_kimg=4.0, tick_kimg=0.5, snapshot_ticks=2, image_ticks=8, keep=2)
    c.stylex = dict(
        classifier=CLASSIFIER, mode="alternate", d_on_rec=True, init_from="", init_d_from="",
        init_e_from="",
        lpips="",
        e_lr=0.0025, betas=(0.0, 0.99), e_channel_base=1024, e_channel_max=32, seed=0,
        loss=dict(l1=1.0, lpips=0.0, cycle=0.1, scale=10.0, kl=1.0, adv=1.0),
    )
    return c
