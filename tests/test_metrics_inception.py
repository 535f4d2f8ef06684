"""FID Inception-v3: structure on random weights, and the converter's key/shape checks and
round trip through both torch.save formats, written here without torch."""
from __future__ import annotations

import collections
import functools
import io
import pickle
import struct
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.convert.inception import (InceptionConversionError, convert_inception, load_inception,
                                      read_torch_state_dict, state_dict_to_variables,
                                      variables_to_state_dict)


def _official_shapes() -> dict[str, tuple]:
    """Key/shape table written from pytorch-fid's FIDInceptionV3 (torchvision Inception3,
    aux_logits=False, 1008 classes, FIDInceptionA/C/E_1/E_2 blocks)."""
    convs = [("Conv2d_1a_3x3", 3, 32, 3, 3), ("Conv2d_2a_3x3", 32, 32, 3, 3),
             ("Conv2d_2b_3x3", 32, 64, 3, 3), ("Conv2d_3b_1x1", 64, 80, 1, 1),
             ("Conv2d_4a_3x3", 80, 192, 3, 3)]

    def block_a(name, cin, pool):
        return [(f"{name}.branch1x1", cin, 64, 1, 1), (f"{name}.branch5x5_1", cin, 48, 1, 1),
                (f"{name}.branch5x5_2", 48, 64, 5, 5), (f"{name}.branch3x3dbl_1", cin, 64, 1, 1),
                (f"{name}.branch3x3dbl_2", 64, 96, 3, 3), (f"{name}.branch3x3dbl_3", 96, 96, 3, 3),
                (f"{name}.branch_pool", cin, pool, 1, 1)]

    def block_c(name, c7):
        return [(f"{name}.branch1x1", 768, 192, 1, 1), (f"{name}.branch7x7_1", 768, c7, 1, 1),
                (f"{name}.branch7x7_2", c7, c7, 1, 7), (f"{name}.branch7x7_3", c7, 192, 7, 1),
                (f"{name}.branch7x7dbl_1", 768, c7, 1, 1), (f"{name}.branch7x7dbl_2", c7, c7, 7, 1),
                (f"{name}.branch7x7dbl_3", c7, c7, 1, 7), (f"{name}.branch7x7dbl_4", c7, c7, 7, 1),
                (f"{name}.branch7x7dbl_5", c7, 192, 1, 7), (f"{name}.branch_pool", 768, 192, 1, 1)]

    def block_e(name, cin):
        return [(f"{name}.branch1x1", cin, 320, 1, 1), (f"{name}.branch3x3_1", cin, 384, 1, 1),
                (f"{name}.branch3x3_2a", 384, 384, 1, 3), (f"{name}.branch3x3_2b", 384, 384, 3, 1),
                (f"{name}.branch3x3dbl_1", cin, 448, 1, 1), (f"{name}.branch3x3dbl_2", 448, 384, 3, 3),
                (f"{name}.branch3x3dbl_3a", 384, 384, 1, 3), (f"{name}.branch3x3dbl_3b", 384, 384, 3, 1),
                (f"{name}.branch_pool", cin, 192, 1, 1)]

    convs += block_a("Mixed_5b", 192, 32) + block_a("Mixed_5c", 256, 64) + block_a("Mixed_5d", 288, 64)
    convs += [("Mixed_6a.branch3x3", 288, 384, 3, 3), ("Mixed_6a.branch3x3dbl_1", 288, 64, 1, 1),
              ("Mixed_6a.branch3x3dbl_2", 64, 96, 3, 3), ("Mixed_6a.branch3x3dbl_3", 96, 96, 3, 3)]
    for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
        convs += block_c(name, c7)
    convs += [("Mixed_7a.branch3x3_1", 768, 192, 1, 1), ("Mixed_7a.branch3x3_2", 192, 320, 3, 3),
              ("Mixed_7a.branch7x7x3_1", 768, 192, 1, 1), ("Mixed_7a.branch7x7x3_2", 192, 192, 1, 7),
              ("Mixed_7a.branch7x7x3_3", 192, 192, 7, 1), ("Mixed_7a.branch7x7x3_4", 192, 192, 3, 3)]
    convs += block_e("Mixed_7b", 1280) + block_e("Mixed_7c", 2048)
    out = {}
    for name, cin, cout, kh, kw in convs:
        out[f"{name}.conv.weight"] = (cout, cin, kh, kw)
        for s in ("weight", "bias", "running_mean", "running_var"):
            out[f"{name}.bn.{s}"] = (cout,)
    out["fc.weight"], out["fc.bias"] = (1008, 2048), (1008,)
    return out


@pytest.fixture(scope="module")
def state():
    rng = np.random.default_rng(0)
    sd = {}
    for k, shp in _official_shapes().items():
        if k.endswith("running_var"):
            sd[k] = rng.uniform(0.5, 1.5, shp).astype(np.float32)
        elif k.endswith("conv.weight"):
            sd[k] = (rng.normal(size=shp) * np.sqrt(2.0 / np.prod(shp[1:]))).astype(np.float32)
        else:
            sd[k] = (rng.normal(size=shp) * 0.1).astype(np.float32)
    return sd


# --- a torch-free torch.save writer (legacy stream and zip archive) ---------------------------

class _Global:
    def __init__(self, module, name):
        self.module, self.name = module, name

    def __call__(self, *a):  # pickle requires reduce functions to be callable
        raise NotImplementedError


class _Tensor:
    def __init__(self, key, a):
        self.key, self.a = key, a


class _Pid:
    def __init__(self, key, numel, legacy):
        self.key, self.numel, self.legacy = key, numel, legacy


class _TorchPickler(pickle._Pickler):
    dispatch = pickle._Pickler.dispatch.copy()
    dispatch[_Global] = lambda self, g: self.write(pickle.GLOBAL + f"{g.module}\n{g.name}\n".encode())

    def persistent_id(self, obj):
        if isinstance(obj, _Pid):
            pid = ("storage", _Global("torch", "FloatStorage"), obj.key, "cpu", obj.numel)
            return pid + (None,) if obj.legacy else pid
        return None

    def reducer_override(self, obj):
        if isinstance(obj, _Tensor):
            a = obj.a
            stride = tuple(int(s // a.itemsize) for s in a.strides)
            return (_Global("torch._utils", "_rebuild_tensor_v2"),
                    (_Pid(obj.key, a.size, self.legacy), 0, a.shape, stride, False,
                     collections.OrderedDict()))
        return NotImplemented


def _dump(obj, legacy):
    f = io.BytesIO()
    p = _TorchPickler(f, protocol=2)
    p.legacy = legacy
    p.dump(obj)
    return f.getvalue()


def _torch_save(sd, path, legacy: bool):
    arrays = {str(i): np.ascontiguousarray(v, np.float32) for i, v in enumerate(sd.values())}
    od = collections.OrderedDict((k, _Tensor(str(i), arrays[str(i)])) for i, k in enumerate(sd))
    payload = _dump(od, legacy)
    if legacy:
        with open(path, "wb") as f:
            f.write(pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2))
            f.write(pickle.dumps(1001, protocol=2))
            f.write(pickle.dumps({"little_endian": True}, protocol=2))
            f.write(payload)
            f.write(pickle.dumps(list(arrays), protocol=2))
            for a in arrays.values():
                f.write(struct.pack("<q", a.size) + a.astype("<f4").tobytes())
    else:
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("archive/data.pkl", payload)
            for k, a in arrays.items():
                z.writestr(f"archive/data/{k}", a.astype("<f4").tobytes())
            z.writestr("archive/version", "3\n")


# --- tests ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def converted(state):
    return state_dict_to_variables(state)


def test_converter_round_trip_and_structure(state, converted, tmp_path):
    variables = converted
    back = variables_to_state_dict(variables)
    assert set(back) == set(state)
    for k in state:
        np.testing.assert_array_equal(back[k], state[k])
    # layouts: a torch conv [O, I, kh, kw] becomes [kh, kw, I, O]; fc is transposed
    np.testing.assert_array_equal(np.asarray(variables["params"]["Mixed_6b"]["branch7x7_2"]["conv"]
                                             ["kernel"]), state["Mixed_6b.branch7x7_2.conv.weight"]
                                  .transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(np.asarray(variables["batch_stats"]["Mixed_7c"]
                                             ["branch_pool"]["bn"]["var"]),
                                  state["Mixed_7c.branch_pool.bn.running_var"])
    # both torch.save formats, and the torch-free npz, read back to the same tensors
    for legacy in (True, False):
        p = tmp_path / f"w_{legacy}.pth"
        _torch_save({**state, "Conv2d_1a_3x3.bn.num_batches_tracked": np.zeros(())}, p, legacy)
        sd = read_torch_state_dict(p)
        for k in state:
            np.testing.assert_array_equal(sd[k], state[k])
    npz = convert_inception(tmp_path / "w_False.pth", tmp_path / "inception.npz")
    module, v2 = load_inception(npz)
    # structure: pool3 [N, 2048] and logits [N, 1008], finite
    x = jnp.tanh(jax.random.normal(jax.random.key(0), (2, 75, 75, 3)))
    fwd = jax.jit(module.apply)
    pool, logits = fwd(v2, x)
    assert pool.shape == (2, 2048) and logits.shape == (2, 1008)
    assert np.all(np.isfinite(np.asarray(pool))) and float(jnp.min(pool)) >= 0   # post-ReLU mean
    assert np.all(np.isfinite(np.asarray(logits)))


def test_converter_reports_bad_keys(state):
    bad = dict(state)
    del bad["Mixed_5b.branch1x1.conv.weight"]
    bad["Mixed_5b.extra.weight"] = np.zeros(3, np.float32)
    bad["fc.weight"] = np.zeros((1000, 2048), np.float32)
    with pytest.raises(InceptionConversionError) as e:
        state_dict_to_variables(bad)
    msg = str(e.value)
    assert "1 missing: Mixed_5b.branch1x1.conv.weight" in msg
    assert "1 unexpected: Mixed_5b.extra.weight" in msg
    assert "fc.weight: (1000, 2048) (expected (1008, 2048))" in msg


def test_reader_refuses_foreign_globals(tmp_path):
    p = tmp_path / "evil.pth"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00lsq\x00\x85R.")
    with pytest.raises(Exception, match="os.system"):
        read_torch_state_dict(p)
    with pytest.raises(FileNotFoundError):
        load_inception(tmp_path / "missing.pth")


def _np_basic_conv(x, sd, name, stride, pad):
    """torch BasicConv2d in NumPy: cross-correlation with [O, I, kh, kw] + BN(eps=1e-3) + ReLU."""
    w = sd[f"{name}.conv.weight"].astype(np.float64)
    o, i, kh, kw = w.shape
    x = np.pad(x.astype(np.float64), ((0, 0), (pad[0], pad[0]), (pad[1], pad[1]), (0, 0)))
    hh = (x.shape[1] - kh) // stride + 1
    ww = (x.shape[2] - kw) // stride + 1
    y = np.zeros((x.shape[0], hh, ww, o))
    for a in range(kh):
        for b in range(kw):
            patch = x[:, a:a + stride * hh:stride, b:b + stride * ww:stride, :]      # [N, h, w, I]
            y += patch @ w[:, :, a, b].T
    bn = {s: sd[f"{name}.bn.{s}"].astype(np.float64) for s in ("weight", "bias", "running_mean", "running_var")}
    y = (y - bn["running_mean"]) / np.sqrt(bn["running_var"] + 1e-3) * bn["weight"] + bn["bias"]
    return np.maximum(y, 0)


@pytest.mark.parametrize("name,cin,kernel,stride,pad", [
    ("Conv2d_1a_3x3", 3, (3, 3), 2, (0, 0)),
    ("Mixed_6b.branch7x7_2", 128, (1, 7), 1, (0, 3)),     # asymmetric: checks the orientation
])
def test_converted_conv_bn_matches_torch_semantics(state, converted, name, cin, kernel, stride, pad):
    from jaxgan.nets.inception import BasicConv2d
    variables = converted
    sub = lambda col: functools.reduce(lambda t, k: t[k], name.split("."), variables[col])  # noqa: E731
    layer = BasicConv2d(state[f"{name}.conv.weight"].shape[0], kernel, stride=stride, padding=pad)
    x = np.random.default_rng(1).normal(size=(2, 9, 9, cin)).astype(np.float32)
    got = jax.jit(layer.apply)({"params": sub("params"), "batch_stats": sub("batch_stats")}, x)
    np.testing.assert_allclose(np.asarray(got), _np_basic_conv(x, state, name, stride, pad),
                               rtol=1e-4, atol=1e-4)
