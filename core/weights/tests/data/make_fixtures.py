#!/usr/bin/python3
"""Writes the small checkpoint fixtures of core/weights/tests/data (see README.md).

Run with the Python that has torch 1.13: /usr/bin/python3 make_fixtures.py
Every tensor is arange-based so that the C++ tests can check exact values.
"""
import collections
import json
import os
import struct
import sys
import types

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def path(name):
    return os.path.join(HERE, name)


def basic():
    """One tensor of every dtype, a 0-dim tensor and an empty one."""
    return collections.OrderedDict([
        ("f32", torch.arange(12, dtype=torch.float32).reshape(3, 4) / 4),
        ("f64", torch.arange(6, dtype=torch.float64).reshape(2, 3) * 0.5 - 1),
        ("f16", (torch.arange(8, dtype=torch.float32) / 8 - 0.5).half().reshape(2, 4)),
        ("bf16", (torch.arange(8, dtype=torch.float32) * 0.25 - 1).bfloat16().reshape(4, 2)),
        ("i64", torch.arange(5, dtype=torch.int64) * 1000000000000 - 2000000000000),
        ("i32", torch.arange(6, dtype=torch.int32) * -7),
        ("i16", torch.arange(4, dtype=torch.int16) * 300 - 600),
        ("i8", torch.arange(6, dtype=torch.int8) - 3),
        ("u8", torch.arange(6, dtype=torch.uint8) * 50),
        ("bool", torch.tensor([True, False, True])),
        ("scalar", torch.tensor(3.5)),
        ("empty", torch.zeros(0, 3)),
    ])


def views():
    """Views sharing storages: transposed, strided column, offset row, block, stride-0 expand,
    a slice saved alone (its whole storage comes along) and one tensor under two names."""
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    big = torch.arange(100, dtype=torch.float32)
    halves = torch.arange(10, dtype=torch.float32).half()
    tied = torch.arange(4, dtype=torch.float32) + 100
    return collections.OrderedDict([
        ("base", base),
        ("t", base.t()),
        ("col", base[:, 2]),
        ("row", base[1]),
        ("block", base[1:3, 2:5]),
        ("expanded", torch.arange(3, dtype=torch.float32).expand(4, 3)),
        ("tail", big[90:95]),
        ("halfstep", halves[::2]),
        ("tied_a", tied),
        ("tied_b", tied),
    ])


def conv_state(prefix):
    return collections.OrderedDict([
        (prefix + "conv.weight", torch.arange(18, dtype=torch.float32).reshape(2, 1, 3, 3) / 10),
        (prefix + "conv.bias", torch.tensor([0.5, -0.5])),
        (prefix + "bn.running_mean", torch.arange(2, dtype=torch.float32)),
        (prefix + "bn.num_batches_tracked", torch.tensor(7)),
    ])


def fake_lightning_module():
    """Registers pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint (a stand-in) so
    that the pickle holds the same GLOBAL as a real Lightning checkpoint's callback key."""
    names = ["pytorch_lightning", "pytorch_lightning.callbacks",
             "pytorch_lightning.callbacks.model_checkpoint"]
    for n in names:
        sys.modules.setdefault(n, types.ModuleType(n))
    mod = sys.modules[names[-1]]

    class ModelCheckpoint:
        pass

    ModelCheckpoint.__module__ = mod.__name__
    ModelCheckpoint.__qualname__ = "ModelCheckpoint"
    mod.ModelCheckpoint = ModelCheckpoint
    return ModelCheckpoint


class Evil:
    """A pickle that would run a shell command under torch.load (never under difss)."""

    def __reduce__(self):
        return (os.system, ("echo difss-fixture-pwned > /tmp/difss_fixture_pwned",))


def bf16_bytes(values):
    f32 = np.asarray(values, dtype="<f4").view("<u4")
    return (f32 >> 16).astype("<u2").tobytes()


def write_safetensors(file, tensors, metadata):
    """Hand-rolled per the safetensors spec: u64 header size, JSON header, data."""
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(file, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)


def main():
    torch.save(basic(), path("basic.pth"))
    torch.save(views(), path("views.pth"))
    torch.save(views(), path("views_legacy.pth"), _use_new_zipfile_serialization=False)
    torch.save({"epoch": 3, "state_dict": conv_state("module."), "best_prec1": 0.75, "arch": "tiny",
                "lrs": [0.1, 0.01], "flags": (True, None), "neg": -5, "big": 2 ** 40},
               path("nested.pth"))

    model_checkpoint = fake_lightning_module()
    sd = conv_state("model.")
    torch.save({
        "epoch": 2,
        "global_step": 100,
        "pytorch-lightning_version": "1.5.0",
        "state_dict": sd,
        "callbacks": {model_checkpoint: {"best_model_score": 0.5, "best_model_path": "x.ckpt"}},
        "optimizer_states": [{"state": {0: {"step": 10, "exp_avg": torch.full((2, 1, 3, 3), 0.25)}},
                              "param_groups": [{"lr": 1e-4, "params": [0]}]}],
        "lr_schedulers": [],
        "hyper_parameters": {"lr": 1e-4, "name": "tiny"},
    }, path("lightning.ckpt"))

    import argparse
    torch.save({"state_dict": conv_state(""), "hparams": argparse.Namespace(lr=0.1, arch="tiny")},
               path("namespace_hparams.ckpt"))

    lin = torch.nn.Linear(3, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.arange(6, dtype=torch.float32).reshape(2, 3) - 2)
        lin.bias.copy_(torch.tensor([10.0, 20.0]))
    torch.save({"weight": lin.weight, "bias": lin.bias}, path("params_protocol4.pth"), pickle_protocol=4)

    torch.save({"x": Evil()}, path("malicious_os_system.pth"))
    torch.save({"x": Evil()}, path("malicious_os_system_legacy.pth"), _use_new_zipfile_serialization=False)

    a = np.arange(6, dtype="<f4").reshape(2, 3) / 2
    write_safetensors(path("tiny.safetensors"), [
        ("i64", "I64", (3,), (np.arange(3, dtype="<i8") * -(2 ** 40)).tobytes()),
        ("f64", "F64", (2,), np.array([0.125, -3.0], dtype="<f8").tobytes()),
        ("f32", "F32", (2, 3), a.astype("<f4").tobytes()),
        ("scalar", "F32", (), np.array(7.25, dtype="<f4").tobytes()),
        ("i32", "I32", (2,), np.array([-1, 65536], dtype="<i4").tobytes()),
        ("f16", "F16", (4,), ((np.arange(4) - 2) / 4).astype("<f2").tobytes()),
        ("bf16", "BF16", (3,), bf16_bytes(np.arange(3) * 1.5)),
        ("i16", "I16", (2,), np.array([-300, 300], dtype="<i2").tobytes()),
        ("u8", "U8", (3,), np.array([0, 127, 255], dtype="u1").tobytes()),
        ("i8", "I8", (2,), np.array([-128, 127], dtype="i1").tobytes()),
        ("bool", "BOOL", (3,), np.array([1, 0, 1], dtype="u1").tobytes()),
        ("empty", "F32", (0, 2), b""),
    ], {"format": "pt", "note": "difss fixture"})
    print("torch", torch.__version__)


if __name__ == "__main__":
    main()
