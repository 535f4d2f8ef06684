"""Write ``torch.save`` files (zip and legacy formats) and rosinality checkpoints without torch.

Test helper for the ``.pt`` reader: tensors are NumPy arrays pickled the way torch pickles
them (``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad,
backward_hooks)`` with the storage as a persistent id ``('storage', torch.FloatStorage, key,
'cpu', numel)``); the names are written as pickle GLOBAL opcodes, so torch is never imported.
The rosinality name mapping here is the inverse of ``jaxgan.convert.rosinality``, written
independently from rosinality's ``model.py`` / ``convert_weight.py`` facts.
"""
from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile

import numpy as np

MAGIC, PROTOCOL = 0x1950A86A20F9469CFC6C, 1001
_STORAGE = {np.dtype("float32"): "FloatStorage", np.dtype("int64"): "LongStorage",
            np.dtype("float16"): "HalfStorage"}


class Global:
    """A reference to ``module.name``, pickled as a GLOBAL opcode."""

    def __init__(self, module, name):
        self.module, self.name = module, name

    def __call__(self, *a):            # pickle's save_reduce wants a callable
        raise TypeError


class _Tensor:
    def __init__(self, a, key):
        self.a, self.key = np.ascontiguousarray(a), key


class NewObj:
    """``cls.__new__(cls)`` then ``__setstate__(state)`` (how ``argparse.Namespace`` pickles)."""

    def __init__(self, cls: Global, state: dict):
        self.cls, self.state = cls, state


class _Pickler(pickle._Pickler):
    def __init__(self, f, legacy):
        super().__init__(f, protocol=2)
        self.legacy = legacy

    def save(self, obj, save_persistent_id=True):
        if isinstance(obj, Global):
            self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
        elif isinstance(obj, _Tensor):
            a = obj.a
            stride = tuple(s // a.itemsize for s in a.strides)
            self.save_reduce(Global("torch._utils", "_rebuild_tensor_v2"),
                             (obj, 0, a.shape, stride, False, collections.OrderedDict()))
        elif isinstance(obj, NewObj):
            self.save(obj.cls)
            self.save(())
            self.write(pickle.NEWOBJ)
            self.save(obj.state)
            self.write(pickle.BUILD)
        else:
            super().save(obj, save_persistent_id)

    def save_reduce(self, func, args, *rest, obj=None, **kw):
        if isinstance(func, Global) and func.name == "_rebuild_tensor_v2":
            t = args[0]
            self.save(func)
            self.write(pickle.MARK)
            pid = ("storage", Global("torch", _STORAGE[t.a.dtype]), str(t.key), "cpu", t.a.size)
            if self.legacy:
                pid = pid + (None,)
            self.save(pid)
            self.write(pickle.BINPERSID)
            for a in args[1:]:
                self.save(a)
            self.write(pickle.TUPLE + pickle.REDUCE)
            return
        super().save_reduce(func, args, *rest, obj=obj, **kw)


def _wrap(obj, tensors):
    if isinstance(obj, np.ndarray):
        t = _Tensor(obj, len(tensors))
        tensors.append(t)
        return t
    if isinstance(obj, collections.OrderedDict):
        return collections.OrderedDict((k, _wrap(v, tensors)) for k, v in obj.items())
    if isinstance(obj, dict):
        return {k: _wrap(v, tensors) for k, v in obj.items()}
    return obj


def torch_save(obj, path, legacy: bool = False) -> None:
    """Write ``obj`` (dicts/OrderedDicts of NumPy arrays, plain values) as ``torch.save`` does."""
    tensors: list[_Tensor] = []
    wrapped = _wrap(obj, tensors)
    buf = io.BytesIO()
    _Pickler(buf, legacy).dump(wrapped)
    if legacy:
        with open(path, "wb") as f:
            for x in (MAGIC, PROTOCOL, {"protocol_version": PROTOCOL, "little_endian": True,
                                        "type_sizes": {"short": 2, "int": 4, "long": 4}}):
                pickle.dump(x, f, protocol=2)
            f.write(buf.getvalue())
            pickle.dump([str(t.key) for t in tensors], f, protocol=2)
            for t in tensors:
                f.write(struct.pack("<q", t.a.size) + t.a.tobytes())
        return
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", buf.getvalue())
        z.writestr("archive/byteorder", "little")
        for t in tensors:
            z.writestr(f"archive/data/{t.key}", t.a.tobytes())
        z.writestr("archive/version", "3\n")


# ----------------------------------------------------------------------------- rosinality

BLUR = (np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64).astype(np.float32)


def _modconv(state, src, dst, out, noise=None):
    out[f"{dst}.conv.weight"] = state[f"{src}.weight"][None]
    out[f"{dst}.conv.modulation.weight"] = state[f"{src}.affine.weight"]
    out[f"{dst}.conv.modulation.bias"] = state[f"{src}.affine.bias"]
    if noise is None:                                  # ToRGB
        out[f"{dst}.bias"] = state[f"{src}.bias"].reshape(1, -1, 1, 1)
        return
    out[f"{dst}.noise.weight"] = state[f"{src}.noise_strength"].reshape(1)
    out[f"{dst}.activate.bias"] = state[f"{src}.bias"]
    out[f"noises.noise_{noise}"] = state[f"{src}.noise_const"][None, None]


def official_to_rosinality_g(state, resolution: int, n_mlp: int):
    """Official generator state dict -> rosinality ``Generator.state_dict()``."""
    out = collections.OrderedDict()
    for i in range(n_mlp):
        out[f"style.{i + 1}.weight"] = state[f"mapping.fc{i}.weight"]
        out[f"style.{i + 1}.bias"] = state[f"mapping.fc{i}.bias"]
    out["input.input"] = state["synthesis.b4.const"][None]
    _modconv(state, "synthesis.b4.conv1", "conv1", out, noise=0)
    _modconv(state, "synthesis.b4.torgb", "to_rgb1", out)
    k, res = 0, 8
    while res <= resolution:
        _modconv(state, f"synthesis.b{res}.conv0", f"convs.{2 * k}", out, noise=2 * k + 1)
        out[f"convs.{2 * k}.conv.blur.kernel"] = BLUR * 4
        _modconv(state, f"synthesis.b{res}.conv1", f"convs.{2 * k + 1}", out, noise=2 * k + 2)
        _modconv(state, f"synthesis.b{res}.torgb", f"to_rgbs.{k}", out)
        out[f"to_rgbs.{k}.upsample.kernel"] = BLUR * 4
        k, res = k + 1, res * 2
    return out


def official_to_rosinality_d(state, resolution: int):
    """Official discriminator state dict -> rosinality ``Discriminator.state_dict()``."""
    out = collections.OrderedDict()
    out["convs.0.0.weight"] = state[f"b{resolution}.fromrgb.weight"]
    out["convs.0.1.bias"] = state[f"b{resolution}.fromrgb.bias"]
    j, res = 1, resolution
    while res > 4:
        out[f"convs.{j}.conv1.0.weight"] = state[f"b{res}.conv0.weight"]
        out[f"convs.{j}.conv1.1.bias"] = state[f"b{res}.conv0.bias"]
        out[f"convs.{j}.conv2.0.kernel"] = BLUR
        out[f"convs.{j}.conv2.1.weight"] = state[f"b{res}.conv1.weight"]
        out[f"convs.{j}.conv2.2.bias"] = state[f"b{res}.conv1.bias"]
        out[f"convs.{j}.skip.0.kernel"] = BLUR
        out[f"convs.{j}.skip.1.weight"] = state[f"b{res}.skip.weight"]
        j, res = j + 1, res // 2
    out["final_conv.0.weight"] = state["b4.conv.weight"]
    out["final_conv.1.bias"] = state["b4.conv.bias"]
    out["final_linear.0.weight"] = state["b4.fc.weight"]
    out["final_linear.0.bias"] = state["b4.fc.bias"]
    out["final_linear.1.weight"] = state["b4.out.weight"]
    out["final_linear.1.bias"] = state["b4.out.bias"]
    return out


# ----------------------------------------------------------------------------- TF-era pickles

TF_NETWORK = Global("dnnlib.tflib.network", "Network")


def tf_network(name, static_kwargs, variables, components=None, version=4):
    """A ``dnnlib.tflib.network.Network`` as it pickles (its ``__getstate__`` dict)."""
    return NewObj(TF_NETWORK, {
        "version": version, "name": name, "static_kwargs": dict(static_kwargs),
        "components": dict(components or {}),
        "build_module_src": "raise RuntimeError('this source must never run')\n",
        "build_func_name": f"{name}_stylegan2", "variables": list(variables)})


def _tf_conv(w, flip=False):
    w = np.asarray(w).transpose(2, 3, 1, 0)                    # [O, I, kh, kw] -> [kh, kw, I, O]
    return np.ascontiguousarray(w[::-1, ::-1] if flip else w)


def official_to_tf_g(state, resolution, mapping_layers, static_kwargs, name="G"):
    """Official generator state dict -> a TF-era ``Network`` (mapping + synthesis components)."""
    mapping = []
    for i in range(mapping_layers):
        mapping += [(f"Dense{i}/weight", state[f"mapping.fc{i}.weight"].T.copy()),
                    (f"Dense{i}/bias", state[f"mapping.fc{i}.bias"])]
    syn = [("4x4/Const/const", state["synthesis.b4.const"][None])]

    def layer(src, dst, noise=None, flip=False):
        out = [(f"{dst}/weight", _tf_conv(state[f"{src}.weight"], flip)),
               (f"{dst}/bias", state[f"{src}.bias"]),
               (f"{dst}/mod_weight", state[f"{src}.affine.weight"].T.copy()),
               (f"{dst}/mod_bias", state[f"{src}.affine.bias"] - 1)]
        if noise is not None:
            out.append((f"{dst}/noise_strength", state[f"{src}.noise_strength"]))
            syn.append((f"noise{noise}", state[f"{src}.noise_const"][None, None]))
        syn.extend(out)

    layer("synthesis.b4.conv1", "4x4/Conv", 0)
    layer("synthesis.b4.torgb", "4x4/ToRGB")
    r, n = 8, 1
    while r <= resolution:
        layer(f"synthesis.b{r}.conv0", f"{r}x{r}/Conv0_up", n, flip=True)
        layer(f"synthesis.b{r}.conv1", f"{r}x{r}/Conv1", n + 1)
        layer(f"synthesis.b{r}.torgb", f"{r}x{r}/ToRGB")
        r, n = r * 2, n + 2
    comps = {"mapping": tf_network("G_mapping", {}, mapping),
             "synthesis": tf_network("G_synthesis", {}, syn)}
    return tf_network(name, static_kwargs, [("dlatent_avg", state["mapping.w_avg"])], comps)


def official_to_tf_d(state, resolution, static_kwargs):
    """Official (resnet) discriminator state dict -> a TF-era ``Network``."""
    v = [(f"{resolution}x{resolution}/FromRGB/weight", _tf_conv(state[f"b{resolution}.fromrgb.weight"])),
         (f"{resolution}x{resolution}/FromRGB/bias", state[f"b{resolution}.fromrgb.bias"])]
    r = resolution
    while r > 4:
        for i, suffix in ((0, ""), (1, "_down")):
            v += [(f"{r}x{r}/Conv{i}{suffix}/weight", _tf_conv(state[f"b{r}.conv{i}.weight"])),
                  (f"{r}x{r}/Conv{i}{suffix}/bias", state[f"b{r}.conv{i}.bias"])]
        v.append((f"{r}x{r}/Skip/weight", _tf_conv(state[f"b{r}.skip.weight"])))
        r //= 2
    v += [("4x4/Conv/weight", _tf_conv(state["b4.conv.weight"])), ("4x4/Conv/bias", state["b4.conv.bias"]),
          ("4x4/Dense0/weight", state["b4.fc.weight"].T.copy()), ("4x4/Dense0/bias", state["b4.fc.bias"]),
          ("Output/weight", state["b4.out.weight"].T.copy()), ("Output/bias", state["b4.out.bias"])]
    return tf_network("D", static_kwargs, v)


def write_pickle(obj, path) -> None:
    """Pickle ``obj`` (with ``Global`` / ``NewObj`` stand-ins) as protocol 2."""
    with open(path, "wb") as f:
        _Pickler(f, legacy=False).dump(obj)
