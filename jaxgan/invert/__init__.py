"""G^-1: optimisation inversion (Z/W/W+/S), encoder, in-domain inversion, restoration."""
from jaxgan.invert.losses import (DistanceWeights, image_distance, noise_regularizer,
                                  normalize_noise)
from jaxgan.invert.projector import (SPACES, ProjectConfig, ProjectionResult, latent_from_ws,
                                   latent_noise_scale, latent_stats, learning_rate,
                                   make_projector, noise_template, project)
from jaxgan.invert.stats import class_means

__all__ = ["SPACES", "DistanceWeights", "class_means", "ProjectConfig", "ProjectionResult", "image_distance",
           "latent_from_ws", "latent_noise_scale", "latent_stats", "learning_rate",
           "make_projector", "noise_regularizer", "noise_template", "normalize_noise", "project"]
