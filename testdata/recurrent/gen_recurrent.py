#!/usr/bin/python3
"""Generate PyTorch-autograd reference fixtures for zerocost's unrolled LSTM, GRU and RNN.

Run from the repository root with Debian's PyTorch (torch 1.13, onnx 1.12):

    /usr/bin/python3 testdata/recurrent/gen_recurrent.py

For each model NAME in lstm, gru, rnn it writes testdata/recurrent/<NAME>/model.onnx and
fixture.json in the format of testdata/torch (see testdata/torch/README.md): big float
initializers are stripped and refilled from lcg_uniform seeds, and the reference holds PyTorch's
float64 cross-entropy loss, logits and gradients of every parameter and of the input.

Models: input [seq 5, batch 3, features 4] into
  lstm: nn.LSTM(4, 6, num_layers=2, bidirectional=True)
  gru:  nn.GRU(4, 6, num_layers=2)
  rnn:  nn.RNN(4, 6, num_layers=2, bidirectional=True, nonlinearity="tanh")
then nn.Linear on the last time step's output into 3 classes. Exported in training mode
(TrainingMode.TRAINING, do_constant_folding=False), so the initializers are the state_dict
entries and the graph computes ONNX's W, R and B from them with Slice and Concat.
"""

import io
import json
import os
import sys
import warnings

import numpy as np
import onnx
from onnx import numpy_helper
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "torch"))
from gen_fixtures import lcg_uniform  # noqa: E402  (the generator shared with Go)

SEQ, BATCH, FEATURES, HIDDEN, CLASSES = 5, 3, 4, 6, 3
INPUT_SEED, INPUT_LOW, INPUT_HIGH = 7, -2.0, 2.0
WEIGHT_SEED_BASE = 1000
STRIP_MIN = 17
GRAD_FULL_MAX = 256
GRAD_SAMPLES = 64
GRAD_SAMPLE_SEED = 12345
OPSETS = (17, 16, 15, 14)


class Net(nn.Module):
    def __init__(self, kind):
        super().__init__()
        if kind == "lstm":
            self.rnn = nn.LSTM(FEATURES, HIDDEN, num_layers=2, bidirectional=True)
        elif kind == "gru":
            self.rnn = nn.GRU(FEATURES, HIDDEN, num_layers=2)
        else:
            self.rnn = nn.RNN(FEATURES, HIDDEN, num_layers=2, bidirectional=True, nonlinearity="tanh")
        dirs = 2 if self.rnn.bidirectional else 1
        self.fc = nn.Linear(dirs * HIDDEN, CLASSES)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.fc(y[-1])


def export(model, x):
    errors = []
    for opset in OPSETS:
        buf = io.BytesIO()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.train()
                torch.onnx.export(model, torch.from_numpy(x), buf, input_names=["input"], output_names=["logits"],
                                  opset_version=opset, do_constant_folding=False,
                                  training=torch.onnx.TrainingMode.TRAINING)
        except Exception as e:  # noqa: BLE001 - try the next opset
            errors.append("opset %d: %s" % (opset, e))
            continue
        return onnx.load_model_from_string(buf.getvalue()), opset
    raise RuntimeError("export failed: " + " | ".join(errors))


def run(model, params, x, labels, dtype):
    """Loss, logits and gradients (by ONNX initializer name, then "input") in dtype."""
    m = model.to(dtype)
    sd = dict(m.named_parameters())
    with torch.no_grad():
        for name, v in params.items():
            sd[name].copy_(torch.from_numpy(v.astype(np.float64)).to(dtype))
    m.zero_grad()
    xt = torch.from_numpy(x.astype(np.float64)).to(dtype).requires_grad_(True)
    logits = m(xt)
    loss = F.cross_entropy(logits, torch.tensor(labels))
    loss.backward()
    grads = {name: sd[name].grad.detach().double().numpy() for name in params}
    grads["input"] = xt.grad.detach().double().numpy()
    return float(loss), logits.detach().double().numpy(), grads


def sample(pos, g):
    flat = g.reshape(-1)
    if flat.size <= GRAD_FULL_MAX:
        return list(range(flat.size))
    rs = np.random.RandomState(GRAD_SAMPLE_SEED + pos)
    return sorted(int(i) for i in rs.choice(flat.size, GRAD_SAMPLES, replace=False))


def generate(kind):
    torch.manual_seed(0)
    model = Net(kind)
    x = lcg_uniform(INPUT_SEED, SEQ * BATCH * FEATURES, INPUT_LOW, INPUT_HIGH).reshape(SEQ, BATCH, FEATURES)
    mp, opset = export(model, x)
    params = dict(model.named_parameters())
    specs, values = [], {}
    for idx, init in enumerate(mp.graph.initializer):
        if init.data_type != onnx.TensorProto.FLOAT:
            continue
        if init.name not in params:
            raise RuntimeError("%s: initializer %s is not a parameter" % (kind, init.name))
        dims = list(init.dims)
        n = int(np.prod(dims))
        # PyTorch's own initialisation ranges: ±1/sqrt(hidden) for the recurrent module,
        # ±1/sqrt(in_features) for the Linear.
        bound = 1.0 / np.sqrt(model.fc.in_features if init.name.startswith("fc.") else HIDDEN)
        arr = lcg_uniform(WEIGHT_SEED_BASE + idx, n, -bound, bound).reshape(dims)
        values[init.name] = arr
        if n >= STRIP_MIN:
            specs.append({"name": init.name, "seed": WEIGHT_SEED_BASE + idx, "low": float(-bound), "high": float(bound)})
            init.ClearField("raw_data")
            init.ClearField("float_data")
        else:
            init.CopyFrom(numpy_helper.from_array(arr, init.name))
    labels = [k % CLASSES for k in range(BATCH)]
    loss, logits, grads = run(Net(kind), values, x, labels, torch.float64)
    _, _, grads32 = run(Net(kind), values, x, labels, torch.float32)
    order = [i.name for i in mp.graph.initializer if i.name in values] + ["input"]
    ref = []
    for pos, name in enumerate(order):
        g, g32 = grads[name], grads32[name]
        idx = sample(pos, g)
        ref.append({"name": name, "shape": list(g.shape), "norm": float(np.linalg.norm(g)),
                    "index": idx, "value": [float(v) for v in g.reshape(-1)[idx]],
                    "norm_f32": float(np.linalg.norm(g32)), "value_f32": [float(v) for v in g32.reshape(-1)[idx]]})
    fixture = {"name": kind, "mode": "train", "opset": opset, "num_classes": CLASSES,
               "input": {"name": "input", "shape": [SEQ, BATCH, FEATURES], "seed": INPUT_SEED,
                         "low": INPUT_LOW, "high": INPUT_HIGH},
               "labels": labels, "weights": specs,
               "reference": {"loss": loss, "logits": logits.tolist(), "grads": ref}}
    out = os.path.join(HERE, kind)
    os.makedirs(out, exist_ok=True)
    onnx.save(mp, os.path.join(out, "model.onnx"))
    with open(os.path.join(out, "fixture.json"), "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
    print("%s: opset %d, loss %.6f, %d gradients" % (kind, opset, loss, len(ref)))


if __name__ == "__main__":
    for kind in sys.argv[1:] or ["lstm", "gru", "rnn"]:
        generate(kind)
