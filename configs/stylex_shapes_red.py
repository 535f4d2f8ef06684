"""StylEx on the built-in shapes scenes, task ``red_high_horizon`` (label = the object's hue
within a quarter turn of red AND horizon > 0.575 from the top): the ``stylex_shapes`` preset
with this task's classifier (``classifier_shapes_red_high_horizon``, 99.5%). It pairs the
horizon with a colour factor, which a generator carries in its colour (ToRGB) channels rather
than in geometry. Train with ``jaxgan explain train --config stylex_shapes_red --out OUT``.

Measured at 40 kimg (README, StylEx): agreement 97.6%, top-4 flip rate 1.0 for positive
images and 0.71 for the others (0.79 overall); single style channels make the object red in
at most 34-41% of the images that need it, so hue does not reach the top-4 "changes the
factor in most images" bar.
"""
from . import stylex_shapes

CLASSIFIER = "builtin:classifier_shapes_red_high_horizon"


def get_config():
    c = stylex_shapes.get_config()
    c.data.task = "red_high_horizon"
    c.stylex.classifier = CLASSIFIER
    return c
