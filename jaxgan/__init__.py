"""jaxgan: StyleGAN2 as data++ in pure JAX/Flax.

Images are ``[N, H, W, C]`` float32 in [-1, 1] throughout the library. The public
operations are pure functions over explicit pytrees (see :mod:`jaxgan.model`)::

    import jax, jaxgan
    G, g_vars = jaxgan.init_generator(jaxgan.GeneratorConfig(img_resolution=32), jax.random.key(0))
    ws = jaxgan.mapping(G, g_vars, z)                 # [N, num_ws, w_dim]
    st = jaxgan.styles(G, g_vars, ws)                 # StyleSpace pytree
    img = jaxgan.synthesize(G, g_vars, styles=st)     # [N, R, R, C]
"""
from jaxgan import _checkout
from jaxgan.model import (default_fused_modconv, discriminate, encode, generate,
                          init_discriminator, init_encoder, init_generator, mapping,
                          mapping_update_w_avg, style_mixing, styles, synthesize,
                          variables_shape)
from jaxgan.nets.configs import (DiscriminatorConfig, EncoderConfig, GeneratorConfig,
                                 config_from_json)

_checkout.install()   # from a source checkout: jaxgan.configs/train/eval -> configs/ train/ eval/

__version__ = "0.1.0"

__all__ = ["DiscriminatorConfig", "EncoderConfig", "GeneratorConfig", "config_from_json",
           "default_fused_modconv", "discriminate", "encode", "generate", "init_discriminator",
           "init_encoder", "init_generator", "mapping", "mapping_update_w_avg", "style_mixing",
           "styles", "synthesize", "variables_shape"]
