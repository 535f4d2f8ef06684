"""Pure array operations: FIR resampling, (modulated) convolution, bias/activation, mbstd.

All tensors are channels last (``[N, H, W, C]``); kernels are ``[kh, kw, in, out]``.
"""
from jaxgan.ops.bias_act import DEF_GAIN, activate, bias_act
from jaxgan.ops.conv import conv2d, conv2d_resample, demod_coefficients, modulated_conv2d
from jaxgan.ops.mbstd import minibatch_stddev
from jaxgan.ops.upfirdn2d import (downsample2d, setup_filter, upfirdn2d, upfirdn2d_ref,
                                  upsample2d)

__all__ = ["DEF_GAIN", "activate", "bias_act", "conv2d", "conv2d_resample",
           "demod_coefficients", "modulated_conv2d", "minibatch_stddev", "downsample2d",
           "setup_filter", "upfirdn2d", "upfirdn2d_ref", "upsample2d"]
