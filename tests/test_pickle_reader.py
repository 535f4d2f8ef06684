"""Restricted, torch-free reading of stylegan2-ada-pytorch snapshot pickles.

The fixtures in ``fixtures/pkl`` were written with real torch by ``make_fixture.py`` (see its
docstring); the ``.npz``/``.json`` beside each ``.pkl`` hold what torch's ``state_dict()`` and
``init_kwargs`` gave for the same modules. Crafted pickles are assembled byte by byte here so
that no test needs torch.
"""
from __future__ import annotations

import json
import pickle
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from jaxgan.convert.pickle_reader import (NetworkRecord, PickleNotAllowedError, UnsafePickleError,
                                          read_network_pkl)

PKL = Path(__file__).parent / "fixtures" / "pkl"


def _reference(stem: str):
    with np.load(PKL / f"{stem}.npz") as f:
        arrays = {k: f[k] for k in f.files}
    return arrays, json.loads((PKL / f"{stem}.json").read_text())


def _check_against_reference(stem: str) -> dict[str, NetworkRecord]:
    records = read_network_pkl(PKL / f"{stem}.pkl", allow_pickle=True)
    arrays, meta = _reference(stem)
    assert sorted(records) == sorted(meta)
    for name, rec in records.items():
        ref = meta[name]
        assert rec.class_name == ref["class_name"]
        assert list(rec.state_dict) == ref["keys"]  # same keys, same order as torch
        for key, value in rec.state_dict.items():
            assert isinstance(value, np.ndarray) and value.flags.c_contiguous, key
            assert str(value.dtype) == ref["dtypes"][key], key
            expected = arrays[f"{name}.{key}"]
            got = value.view(np.uint16) if ref["dtypes"][key] == "bfloat16" else value
            assert got.dtype == expected.dtype and got.shape == expected.shape, key
            np.testing.assert_array_equal(got, expected, err_msg=f"{name}.{key}")
        assert rec.init_kwargs == ref["init_kwargs"]
        assert type(rec.init_kwargs) is dict
        assert all(type(v) is dict for v in rec.init_kwargs.values() if isinstance(v, dict))
        assert list(rec.init_args) == ref["init_args"]
    return records


def test_snapshot_matches_torch_state_dicts():
    before = set(sys.modules)
    records = _check_against_reference("snapshot")
    assert set(records) == {"G", "D", "G_ema"}  # augment_pipe=None, training_set_kwargs out
    assert not {m for m in set(sys.modules) - before if m == "torch" or m.startswith("torch.")}
    g = records["G_ema"].state_dict
    for key in ("mapping.fc0.weight", "mapping.w_avg", "synthesis.b4.const",
                "synthesis.b4.conv1.noise_const", "synthesis.b4.conv1.affine.weight",
                "synthesis.b8.resample_filter", "synthesis.b16.torgb.weight"):
        assert key in g, key
    assert g["synthesis.b4.conv1.noise_strength"].shape == ()
    assert records["G"].init_kwargs["synthesis_kwargs"]["num_fp16_res"] == 2
    assert "b4.fc.weight" in records["D"].state_dict


def test_extras_strided_dtypes_and_module_kinds():
    records = _check_against_reference("extras")
    sd = records["E"].state_dict
    assert "scratch" not in sd  # non-persistent buffer
    assert "missing" not in sd  # None parameter
    assert "plain.weight" in sd  # plain torch.nn.Linear submodule
    assert {str(sd[k].dtype) for k in ("fp16", "bf16", "steps", "mask", "u16")} == {
        "float16", "bfloat16", "int64", "bool", "uint16"}


def test_requires_allow_pickle():
    with pytest.raises(PickleNotAllowedError) as exc:
        read_network_pkl(PKL / "snapshot.pkl")
    msg = str(exc.value)
    assert "allow_pickle=True" in msg and "--allow-pickle" in msg
    assert "pickle" in msg and "never runs" in msg
    assert isinstance(exc.value, ValueError)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.pkl"
    with pytest.raises(FileNotFoundError, match="nope.pkl"):
        read_network_pkl(path, allow_pickle=True)


@pytest.mark.parametrize("fraction", [0.0, 0.001, 0.3, 0.5, 0.999])
def test_truncated_file(tmp_path, fraction):
    data = (PKL / "snapshot.pkl").read_bytes()
    path = tmp_path / "cut.pkl"
    path.write_bytes(data[:int(len(data) * fraction)])
    with pytest.raises(ValueError, match="cut.pkl") as exc:
        read_network_pkl(path, allow_pickle=True)
    assert not isinstance(exc.value, UnsafePickleError)


@pytest.mark.parametrize("content", [b"not a pickle at all\n", b"PK\x03\x04zipzipzip",
                                     pickle.dumps([1, 2, 3]), pickle.dumps({"G": 1, "x": None})])
def test_not_a_network_pickle(tmp_path, content):
    path = tmp_path / "bad.pkl"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="bad.pkl"):
        read_network_pkl(path, allow_pickle=True)


# ----------------------------------------------------------------------------- crafted pickles

def _unicode(s: str) -> bytes:
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def _storage_payload(values: np.ndarray) -> bytes:
    """Legacy ``torch.save(FloatStorage)`` bytes, as torch's storage ``__reduce__`` writes."""
    head = b"".join(pickle.dumps(x, protocol=2) for x in (
        0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True}))
    main = (b"\x80\x02(" + _unicode("storage") + b"ctorch\nFloatStorage\n" + _unicode("k0")
            + _unicode("cpu") + b"J" + struct.pack("<i", values.size) + b"NtQ.")
    data = struct.pack("<q", values.size) + values.astype("<f4").tobytes()
    return head + main + pickle.dumps(["k0"], protocol=2) + data


def _tensor_pickle(payload: bytes, offset: int, size: tuple, stride: tuple) -> bytes:
    """Protocol-3 pickle of one ``_rebuild_tensor_v2(_load_from_bytes(payload), ...)`` call."""
    def ints(t):
        return b"(" + b"".join(b"J" + struct.pack("<i", v) for v in t) + b"t"
    return (b"\x80\x03ctorch._utils\n_rebuild_tensor_v2\n(ctorch.storage\n_load_from_bytes\n"
            b"B" + struct.pack("<I", len(payload)) + payload + b"\x85R"
            + b"J" + struct.pack("<i", offset) + ints(size) + ints(stride) + b"\x89}tR.")


def _network_pickle(tensor_pickle: bytes, module_src: str = "") -> bytes:
    """``{'G': <persistent object with one parameter 'w'>}``, protocol 3."""
    tensor = tensor_pickle[2:-1]  # drop PROTO and STOP
    meta = (b"}(" + _unicode("type") + _unicode("class") + _unicode("version") + b"K\x06"
            + _unicode("module_src") + _unicode(module_src) + _unicode("class_name")
            + _unicode("Generator") + _unicode("state") + b"}(" + _unicode("_parameters")
            + b"ccollections\nOrderedDict\n)R(" + _unicode("w") + tensor + b"u"
            + _unicode("_buffers") + b"}" + _unicode("_modules") + b"}"
            + _unicode("_init_kwargs") + b"}" + _unicode("z_dim") + b"K\x08su" + b"u")
    return (b"\x80\x03}" + _unicode("G") + b"ctorch_utils.persistence\n"
            b"_reconstruct_persistent_obj\n" + meta + b"\x85Rs.")


def test_handmade_tensor_pickle_round_trip(tmp_path):
    values = np.arange(12, dtype=np.float32)
    data = _network_pickle(_tensor_pickle(_storage_payload(values), 1, (2, 3), (4, 1)))
    path = tmp_path / "hand.pkl"
    path.write_bytes(data)
    rec = read_network_pkl(path, allow_pickle=True)["G"]
    np.testing.assert_array_equal(rec.state_dict["w"], [[1, 2, 3], [5, 6, 7]])
    assert rec.class_name == "Generator" and rec.init_kwargs == {"z_dim": 8}


def test_module_src_is_never_executed(tmp_path):
    marker = tmp_path / "executed.txt"
    src = f"open({str(marker)!r}, 'w').write('pwned')\nclass Generator:\n    pass\n"
    payload = _storage_payload(np.ones(4, np.float32))
    path = tmp_path / "evil_src.pkl"
    path.write_bytes(_network_pickle(_tensor_pickle(payload, 0, (4,), (1,)), module_src=src))
    rec = read_network_pkl(path, allow_pickle=True)["G"]
    assert not marker.exists()
    np.testing.assert_array_equal(rec.state_dict["w"], np.ones(4, np.float32))


class _Evil:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return self.func, (self.arg,)


@pytest.mark.parametrize("kind", ["os.system", "builtins.eval", "builtins.exec", "inner"])
def test_refuses_dangerous_globals(tmp_path, kind):
    import builtins
    import os
    marker = tmp_path / "executed.txt"
    if kind == "os.system":
        data = b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."
    elif kind == "inner":  # the attack hides inside a storage payload
        inner = pickle.dumps(_Evil(os.system, f"touch {marker}"), protocol=2)
        payload = b"".join(pickle.dumps(x, protocol=2) for x in (0x1950A86A20F9469CFC6C, 1001, {}))
        data = _network_pickle(_tensor_pickle(payload + inner, 0, (1,), (1,)))
    else:
        func = getattr(builtins, kind.split(".")[1])
        data = pickle.dumps({"G": _Evil(func, f"open({str(marker)!r}, 'w')")}, protocol=4)
    path = tmp_path / "evil.pkl"
    path.write_bytes(data)
    with pytest.raises(UnsafePickleError, match="refused") as exc:
        read_network_pkl(path, allow_pickle=True)
    assert not marker.exists()
    assert "evil.pkl" in str(exc.value)
    assert ("system" if kind in ("os.system", "inner") else kind) in str(exc.value)


@pytest.mark.parametrize("geometry", [(0, (5,), (1,)), (3, (2,), (1,)), (0, (2, 2), (3, 1))])
def test_out_of_bounds_tensor_is_refused(tmp_path, geometry):
    payload = _storage_payload(np.arange(4, dtype=np.float32))
    path = tmp_path / "oob.pkl"
    path.write_bytes(_network_pickle(_tensor_pickle(payload, *geometry)))
    with pytest.raises(ValueError, match="reaches past"):
        read_network_pkl(path, allow_pickle=True)


def test_refuses_network_class_by_reference(tmp_path):
    path = tmp_path / "byref.pkl"
    path.write_bytes(b"\x80\x02}X\x01\x00\x00\x00Gctraining.networks\nGenerator\n)\x81s.")
    with pytest.raises(UnsafePickleError, match="training.networks.Generator"):
        read_network_pkl(path, allow_pickle=True)
