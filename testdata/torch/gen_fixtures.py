#!/usr/bin/python3
"""Generate PyTorch-autograd reference fixtures for zerocost's ONNX gradient graphs.

Run from the repository root with Debian's PyTorch (torch 1.13, torchvision 0.14, onnx 1.12):

    /usr/bin/python3 testdata/torch/gen_fixtures.py                 # every model, train + eval
    /usr/bin/python3 testdata/torch/gen_fixtures.py resnet18 nb201_a  # only these models
    /usr/bin/python3 testdata/torch/gen_fixtures.py --verify [NAME]   # re-check a written train fixture

For every model NAME and MODE in {train, eval} it writes testdata/torch/<NAME>_<MODE>/model.onnx and
fixture.json. Every float32 initializer with more than 16 elements is stored *without data* in
model.onnx (name, dims and data_type only); fixture.json lists it under "weights" with the seed and
range of the deterministic generator lcg_uniform below, which the Go side reimplements bit-exactly.
See README.md next to this file for the format.
"""

import argparse
import copy
import io
import json
import math
import os
import sys
import time
import warnings

import numpy as np
import onnx
from onnx import numpy_helper
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
NUM_CLASSES = 10
INPUT_SEED = 7
INPUT_LOW, INPUT_HIGH = -2.0, 2.0
WEIGHT_SEED_BASE = 1000
STRIP_MIN = 17          # float initializers with at least this many elements are stripped
GRAD_FULL_MAX = 256     # gradients with at most this many elements are recorded in full
GRAD_SAMPLES = 64
GRAD_SAMPLE_SEED = 12345
OPSETS = (17, 16, 15, 14)


# --------------------------------------------------------------------------------------------
# Deterministic generator shared with Go (splitmix64 finaliser on seed + i*golden, top 24 bits).
# --------------------------------------------------------------------------------------------
def lcg_uniform(seed, n, low, high):
    """n float32 values in [low, high); bit-exact with the Go implementation."""
    with np.errstate(over="ignore"):
        i = np.arange(1, n + 1, dtype=np.uint64)
        z = np.uint64(seed) + i * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(40)).astype(np.float64) / float(1 << 24)  # exact, in [0, 1)
    return (float(low) + (float(high) - float(low)) * u).astype(np.float32)


def weight_range(name, dims, matmul_rhs=False):
    """The [low, high) range used for a stripped initializer, from its ONNX name and dims.
    matmul_rhs: a 2-D initializer fed straight into MatMul as B ([in, out], what constant folding
    makes of a transposed Linear weight in eval exports): its fan-in is dims[0]."""
    lname = name.lower()
    if "class_token" in lname or "pos_embedding" in lname:
        return -0.1, 0.1
    if "layer_scale" in lname:          # ConvNeXt per-channel residual scale, shape [C,1,1]
        return 0.5, 1.5
    if len(dims) == 2 and matmul_rhs:
        b = 1.0 / math.sqrt(dims[0])
        return -b, b
    if len(dims) >= 2:
        fan_in = int(np.prod(dims[1:]))
        b = 1.0 / math.sqrt(fan_in)
        return -b, b
    if len(dims) == 1:
        if "running_var" in lname:
            return 0.5, 1.5
        if "running_mean" in lname:
            return -0.1, 0.1
        if lname.endswith(".weight") or lname.endswith("weight") or lname.endswith(".gamma") \
                or lname.endswith("scale"):
            return 0.5, 1.5
        return -0.1, 0.1
    return -0.1, 0.1


# --------------------------------------------------------------------------------------------
# NAS-Bench-201 network (infer version, as NAS-Bench-201 / AutoDL-Projects builds it).
# --------------------------------------------------------------------------------------------
class BatchStatsNorm(nn.Module):
    """BatchNorm2d(affine=False, track_running_stats=False) written out: PyTorch 1.13 cannot export
    that module (AssertionError in the BatchNormalization symbolic). Same function, checked against
    nn.BatchNorm2d in check_batch_stats_norm."""

    def forward(self, x):
        mean = x.mean(dim=(0, 2, 3), keepdim=True)
        var = ((x - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
        return (x - mean) / torch.sqrt(var + 1e-5)


def check_batch_stats_norm():
    x = torch.randn(4, 8, 5, 5, dtype=torch.float64)
    ref = nn.BatchNorm2d(8, affine=False, track_running_stats=False).double()(x)
    assert torch.allclose(BatchStatsNorm()(x), ref, atol=1e-12), "BatchStatsNorm differs from BatchNorm2d"


class ReLUConvBN(nn.Module):
    """affine=False is the zero-cost reference's ("foresight") cell op: conv with bias, BN without
    affine parameters or running statistics."""

    def __init__(self, c_in, c_out, k, stride, pad, affine=True):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, k, stride=stride, padding=pad, bias=not affine),
            nn.BatchNorm2d(c_out) if affine else BatchStatsNorm(),
        )

    def forward(self, x):
        return self.op(x)


class Zero(nn.Module):
    def forward(self, x):
        return x.mul(0.0)


class Identity(nn.Module):
    def forward(self, x):
        return x


def nb201_op(name, c, affine=True):
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(c, c, 1, 1, 0, affine)
    if name == "nor_conv_3x3":
        return ReLUConvBN(c, c, 3, 1, 1, affine)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError("unknown NAS-Bench-201 op %r" % name)


def parse_arch(arch):
    """'|op~0|+|op~0|op~1|+|...|' -> [[(op, input)], [(op, input), ...], ...] for nodes 1..3."""
    nodes = []
    for part in arch.split("+"):
        edges = [e for e in part.split("|") if e]
        nodes.append([(e.split("~")[0], int(e.split("~")[1])) for e in edges])
    return nodes


class InferCell(nn.Module):
    def __init__(self, arch, c, affine=True):
        super().__init__()
        self.layers = nn.ModuleList()
        self.node_in = []
        self.nodes = []  # per node j = 1..3: the indices into self.layers of its incoming edges
        for node in parse_arch(arch):
            ids = []
            for op, src in node:
                ids.append(len(self.layers))
                self.layers.append(nb201_op(op, c, affine))
                self.node_in.append(src)
            self.nodes.append(ids)

    def forward(self, x):
        nodes = [x]
        for layer_ids in self.nodes:
            s = None
            for li in layer_ids:
                y = self.layers[li](nodes[self.node_in[li]])
                s = y if s is None else s + y
            nodes.append(s)
        return nodes[-1]


class ResNetBasicblock(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride, 1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(c_in, c_out, 1, stride=1, padding=0, bias=False),
        )

    def forward(self, x):
        b = self.conv_b(self.conv_a(x))
        return self.downsample(x) + b


class NB201Net(nn.Module):
    def __init__(self, arch, C=16, N=5, num_classes=NUM_CLASSES, foresight=False):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        chans = [C] * N + [2 * C] + [2 * C] * N + [4 * C] + [4 * C] * N
        reds = [False] * N + [True] + [False] * N + [True] + [False] * N
        self.cells = nn.ModuleList()
        c_prev = C
        for c, red in zip(chans, reds):
            if red:
                self.cells.append(ResNetBasicblock(c_prev, c, 2))
            else:
                self.cells.append(InferCell(arch, c, affine=not foresight))
            c_prev = c
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x):
        h = self.stem(x)
        for cell in self.cells:
            h = cell(h)
        h = self.lastact(h)
        h = self.global_pooling(h)
        h = h.view(h.size(0), -1)
        return self.classifier(h)


NB201_ARCHS = {
    "nb201_a": "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
    "nb201_b": "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    "nb201_c": "|nor_conv_1x1~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|avg_pool_3x3~2|",
}

TV = torchvision.models
TV_MODELS = {
    "resnet18": lambda: TV.resnet18(weights=None, num_classes=NUM_CLASSES),
    "resnet50": lambda: TV.resnet50(weights=None, num_classes=NUM_CLASSES),
    "mobilenet_v2": lambda: TV.mobilenet_v2(weights=None, num_classes=NUM_CLASSES),
    "mobilenet_v3_small": lambda: TV.mobilenet_v3_small(weights=None, num_classes=NUM_CLASSES),
    "efficientnet_b0": lambda: TV.efficientnet_b0(weights=None, num_classes=NUM_CLASSES),
    "squeezenet1_1": lambda: TV.squeezenet1_1(weights=None, num_classes=NUM_CLASSES),
    "shufflenet_v2_x0_5": lambda: TV.shufflenet_v2_x0_5(weights=None, num_classes=NUM_CLASSES),
    "densenet121": lambda: TV.densenet121(weights=None, num_classes=NUM_CLASSES),
    "mnasnet0_5": lambda: TV.mnasnet0_5(weights=None, num_classes=NUM_CLASSES),
    "regnet_x_400mf": lambda: TV.regnet_x_400mf(weights=None, num_classes=NUM_CLASSES),
    "googlenet": lambda: TV.googlenet(weights=None, num_classes=NUM_CLASSES, aux_logits=False,
                                      init_weights=True),
    "convnext_tiny": lambda: TV.convnext_tiny(weights=None, num_classes=NUM_CLASSES),
    "vit_b_16": lambda: TV.vit_b_16(weights=None, num_classes=NUM_CLASSES, image_size=32),
}

# The foresight variant of NAS-Bench-201 (zerocost zoo nb201 --variant foresight).
FORESIGHT_ARCHS = {"nb201f_a": NB201_ARCHS["nb201_a"]}

ALL_MODELS = list(NB201_ARCHS) + list(FORESIGHT_ARCHS) + list(TV_MODELS)


def input_shape(name):
    if name in NB201_ARCHS or name in FORESIGHT_ARCHS:
        return [4, 3, 32, 32]
    if name == "vit_b_16":
        return [2, 3, 32, 32]
    # Batch 8: train-mode BatchNormalization over the last 2x2 feature maps of
    # a batch of 2 (8 values per channel) is so ill-conditioned that float32
    # gradients differ from float64 ones by up to 6%; 32 values per channel
    # bring float32 within ~1e-3.
    return [8, 3, 64, 64]


def make_input(shape):
    n = int(np.prod(shape))
    return lcg_uniform(INPUT_SEED, n, INPUT_LOW, INPUT_HIGH).reshape(shape)


def make_labels(n):
    return [(k * 3) % NUM_CLASSES for k in range(n)]


def disable_randomness(model):
    """Dropout p=0, stochastic depth p=0, attention dropout 0, so the export is deterministic."""
    for m in model.modules():
        if isinstance(m, nn.modules.dropout._DropoutNd):
            m.p = 0.0
        if isinstance(m, nn.MultiheadAttention):
            m.dropout = 0.0
        if type(m).__name__ == "StochasticDepth":
            m.p = 0.0


def build_model(name):
    torch.manual_seed(0)
    if name in NB201_ARCHS:
        model = NB201Net(NB201_ARCHS[name])
    elif name in FORESIGHT_ARCHS:
        check_batch_stats_norm()
        model = NB201Net(FORESIGHT_ARCHS[name], foresight=True)
    else:
        model = TV_MODELS[name]()
    disable_randomness(model)
    return model


# --------------------------------------------------------------------------------------------
# Export, strip, weights
# --------------------------------------------------------------------------------------------
def export(model, x, mode):
    """Export to ONNX bytes; returns (onnx.ModelProto, opset, errors of the opsets tried first)."""
    errors = []
    for opset in OPSETS:
        buf = io.BytesIO()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if mode == "train":
                    model.train()
                    torch.onnx.export(model, torch.from_numpy(x), buf, input_names=["input"],
                                      output_names=["logits"],
                                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                                      opset_version=opset, do_constant_folding=False,
                                      training=torch.onnx.TrainingMode.TRAINING)
                else:
                    model.eval()
                    torch.onnx.export(model, torch.from_numpy(x), buf, input_names=["input"],
                                      output_names=["logits"],
                                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                                      opset_version=opset, do_constant_folding=True,
                                      training=torch.onnx.TrainingMode.EVAL)
        except Exception as e:  # noqa: BLE001 - record and try the next opset
            errors.append("opset %d: %s: %s" % (opset, type(e).__name__, str(e).splitlines()[0] if str(e) else ""))
            continue
        return onnx.load_model_from_string(buf.getvalue()), opset, errors
    raise RuntimeError("export failed for every opset: " + " | ".join(errors))


def is_float(init):
    return init.data_type == onnx.TensorProto.FLOAT


def numel(dims):
    return int(np.prod(dims)) if len(dims) else 1


def strip_and_fill(mp):
    """Replace big float initializers' data by the LCG spec. Returns (weights spec list,
    {name: float32 ndarray} of the values Go will refill, {name: ndarray} of every float initializer)."""
    specs, filled, values = [], {}, {}
    matmul_b = {n.input[1] for n in mp.graph.node if n.op_type == "MatMul" and len(n.input) > 1}
    for idx, init in enumerate(mp.graph.initializer):
        if not is_float(init):
            continue
        dims = list(init.dims)
        n = numel(dims)
        if n < STRIP_MIN:
            values[init.name] = numpy_helper.to_array(init).astype(np.float32)
            continue
        seed = WEIGHT_SEED_BASE + idx
        low, high = weight_range(init.name, dims, init.name in matmul_b)
        arr = lcg_uniform(seed, n, low, high).reshape(dims)
        specs.append({"name": init.name, "seed": seed, "low": float(low), "high": float(high)})
        filled[init.name] = arr
        values[init.name] = arr
        init.ClearField("raw_data")
        init.ClearField("float_data")
        init.ClearField("data_location")
        del init.external_data[:]
    return specs, filled, values


def big_constants(mp):
    """Constant nodes holding float tensors with more than 16 elements (would not be stripped)."""
    out = []
    for node in mp.graph.node:
        if node.op_type != "Constant":
            continue
        for a in node.attribute:
            if a.type == onnx.AttributeProto.TENSOR and numel(list(a.t.dims)) >= STRIP_MIN:
                out.append((node.output[0], list(a.t.dims), a.t.data_type))
    return out


def match_state(model, values, snapshot):
    """Map ONNX initializer name -> state_dict key. Names should match for train-mode exports;
    otherwise fall back to bit-equal value matching against the pre-fill snapshot."""
    sd = model.state_dict()
    mapping, unmatched, by_value = {}, [], []
    for name in values:
        if name in sd:
            mapping[name] = name
            continue
        onnx_val = snapshot.get(name)
        cands = []
        if onnx_val is not None:
            for k, t in sd.items():
                if t.dtype == torch.float32 and tuple(t.shape) == onnx_val.shape and \
                        np.array_equal(t.detach().cpu().numpy(), onnx_val):
                    cands.append(k)
        if len(cands) == 1:
            mapping[name] = cands[0]
            by_value.append((name, cands[0]))
        else:
            unmatched.append((name, cands))
    return mapping, unmatched, by_value


def load_values(model, values, mapping):
    sd = model.state_dict()
    with torch.no_grad():
        for name, key in mapping.items():
            t = sd[key]
            v = torch.from_numpy(np.array(values[name], dtype=np.float32)).reshape(t.shape)
            t.copy_(v)


# --------------------------------------------------------------------------------------------
# Reference
# --------------------------------------------------------------------------------------------
def reference(model, x, labels, mapping):
    m = copy.deepcopy(model).double()
    m.train()
    xt = torch.from_numpy(x).double().requires_grad_()
    logits = m(xt)
    loss = F.cross_entropy(logits, torch.tensor(labels, dtype=torch.int64))
    loss.backward()
    params = dict(m.named_parameters())
    # The same pass in float32: its distance from float64 says how much a
    # float32 implementation can differ on this network (ill-conditioned
    # train-mode BatchNormalization, near-ties of MaxPool and ReLU).
    m32 = copy.deepcopy(model).float()
    m32.train()
    x32 = torch.from_numpy(x).float().requires_grad_()
    F.cross_entropy(m32(x32), torch.tensor(labels, dtype=torch.int64)).backward()
    params32 = dict(m32.named_parameters())
    grads = []
    entries = [(onnx_name, params[key]) for onnx_name, key in mapping.items() if key in params
               and params[key].requires_grad]
    entries.append(("input", xt))
    entries32 = {onnx_name: params32[key] for onnx_name, key in mapping.items() if key in params32}
    entries32["input"] = x32
    for pos, (name, p) in enumerate(entries):
        g = p.grad
        if g is None:
            g = torch.zeros_like(p)
        g = g.detach().double().numpy()
        flat = g.reshape(-1)
        if flat.size <= GRAD_FULL_MAX:
            idx = np.arange(flat.size)
        else:
            rs = np.random.RandomState(GRAD_SAMPLE_SEED + pos)
            idx = np.sort(rs.choice(flat.size, GRAD_SAMPLES, replace=False))
        g32 = entries32[name].grad
        flat32 = (torch.zeros_like(entries32[name]) if g32 is None else g32).detach().double().numpy().reshape(-1)
        grads.append({"name": name, "shape": list(g.shape), "norm": float(np.linalg.norm(flat)),
                      "index": [int(i) for i in idx], "value": [float(v) for v in flat[idx]],
                      "norm_f32": float(np.linalg.norm(flat32)), "value_f32": [float(v) for v in flat32[idx]]})
    return {"loss": float(loss.item()),
            "logits": [[float(v) for v in row] for row in logits.detach().numpy()],
            "grads": grads}


# --------------------------------------------------------------------------------------------
def describe(mp):
    ops = sorted({n.op_type for n in mp.graph.node})
    return len(mp.graph.node), ops


def generate(name, report):
    shape = input_shape(name)
    x = make_input(shape)
    labels = make_labels(shape[0])
    model = build_model(name)
    train_values = None
    train_mapping = None
    for mode in ("train", "eval"):
        t0 = time.time()
        out_dir = os.path.join(HERE, "%s_%s" % (name, mode))
        os.makedirs(out_dir, exist_ok=True)
        if mode == "eval" and train_values is not None:
            load_values(model, train_values, train_mapping)  # same starting weights (cosmetic)
        mp, opset, errors = export(model, x, mode)
        snapshot = {i.name: numpy_helper.to_array(i) for i in mp.graph.initializer if is_float(i)}
        specs, filled, values = strip_and_fill(mp)
        notes = list(errors)
        consts = big_constants(mp)
        if consts:
            notes.append("big Constant nodes: %s" % consts[:5])
        other_float = sorted({i.data_type for i in mp.graph.initializer
                              if i.data_type in (onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16,
                                                 onnx.TensorProto.BFLOAT16)})
        if other_float:
            notes.append("non-float32 float initializers: types %s" % other_float)
        fixture = {"name": name, "mode": mode, "opset": opset, "num_classes": NUM_CLASSES,
                   "input": {"name": "input", "shape": shape, "seed": INPUT_SEED,
                             "low": INPUT_LOW, "high": INPUT_HIGH},
                   "labels": labels, "weights": specs}
        if mode == "train":
            mapping, unmatched, by_value = match_state(model, values, snapshot)
            if by_value:
                notes.append("matched by value (name differs from state_dict): %s" % by_value)
            if unmatched:
                notes.append("UNMATCHED initializers (no PyTorch counterpart): %s" % unmatched)
            load_values(model, values, mapping)
            train_values, train_mapping = values, mapping
            fixture["reference"] = reference(model, x, labels, mapping)
            sd_keys = set(k for k, t in model.state_dict().items() if t.dtype.is_floating_point)
            unused = sorted(sd_keys - set(mapping.values()))
            if unused:
                notes.append("%d float state_dict entries not in ONNX (e.g. %s)" % (len(unused), unused[:4]))
        if mode == "eval" and name in FORESIGHT_ARCHS:
            # Eval-mode logits (float64): the foresight cells keep batch statistics in eval mode.
            m = copy.deepcopy(model).double().eval()
            with torch.no_grad():
                logits = m(torch.from_numpy(x).double())
            fixture["reference"] = {"logits": [[float(v) for v in row] for row in logits.numpy()]}
        onnx.save_model(mp, os.path.join(out_dir, "model.onnx"))
        with open(os.path.join(out_dir, "fixture.json"), "w") as f:
            json.dump(fixture, f, separators=(",", ":"))
            f.write("\n")
        n_nodes, ops = describe(mp)
        report.append({"model": name, "mode": mode, "opset": opset, "nodes": n_nodes, "ops": ops,
                       "onnx_kb": os.path.getsize(os.path.join(out_dir, "model.onnx")) / 1024,
                       "json_kb": os.path.getsize(os.path.join(out_dir, "fixture.json")) / 1024,
                       "stripped": len(specs), "secs": time.time() - t0, "notes": notes})
        print("%-20s %-5s opset %d  %5d nodes  %3d stripped  %.1fs" %
              (name, mode, opset, n_nodes, len(specs), time.time() - t0), flush=True)
        for n in notes:
            print("    note:", n, flush=True)


def print_table(report):
    print()
    print("%-20s %-5s %5s %6s %9s %9s  %s" % ("model", "mode", "opset", "nodes", "onnx KB", "json KB", "op types"))
    for r in report:
        print("%-20s %-5s %5d %6d %9.1f %9.1f  %s" % (r["model"], r["mode"], r["opset"], r["nodes"],
                                                      r["onnx_kb"], r["json_kb"], " ".join(r["ops"])))
    union = sorted(set().union(*[set(r["ops"]) for r in report])) if report else []
    print("\nop types (union): %s" % " ".join(union))


# --------------------------------------------------------------------------------------------
def verify(name):
    """Re-check a written train fixture from the files alone."""
    d = os.path.join(HERE, "%s_train" % name)
    fx = json.load(open(os.path.join(d, "fixture.json")))
    mp = onnx.load(os.path.join(d, "model.onnx"))
    specs = {w["name"]: w for w in fx["weights"]}
    ok = True
    stripped = [i.name for i in mp.graph.initializer if is_float(i) and not i.raw_data
                and not i.float_data and numel(list(i.dims)) > 0]
    missing = [s for s in stripped if s not in specs]
    if missing:
        print("FAIL: stripped initializers not listed in weights:", missing)
        ok = False
    # refill a copy of the ONNX model and check it
    values = {}
    for init in mp.graph.initializer:
        if not is_float(init):
            continue
        if init.name in specs:
            w = specs[init.name]
            arr = lcg_uniform(w["seed"], numel(list(init.dims)), w["low"], w["high"]).reshape(list(init.dims))
            init.CopyFrom(numpy_helper.from_array(arr, init.name))
        values[init.name] = numpy_helper.to_array(init).astype(np.float32)
    onnx.checker.check_model(mp)
    # PyTorch float32 logits with those weights must match the recorded float64 logits
    model = build_model(name)
    sd = model.state_dict()
    mapping = {n: n for n in values if n in sd}
    if len(mapping) != len(values):
        print("note: %d ONNX initializers are not state_dict keys: %s" %
              (len(values) - len(mapping), sorted(set(values) - set(mapping))[:8]))
    load_values(model, values, mapping)
    model.train()
    shape = fx["input"]["shape"]
    x = lcg_uniform(fx["input"]["seed"], int(np.prod(shape)), fx["input"]["low"], fx["input"]["high"]).reshape(shape)
    labels = torch.tensor(fx["labels"], dtype=torch.int64)
    ref = np.array(fx["reference"]["logits"])
    # float64 with the refilled weights must reproduce the recorded float64 logits (up to summation order)
    m64 = copy.deepcopy(model).double()
    with torch.no_grad():
        l64 = m64(torch.from_numpy(x).double()).numpy()
    d64 = float(np.max(np.abs(l64 - ref)))
    # float32 (what ONNX Runtime computes): logits and gradients against the float64 reference
    xt = torch.from_numpy(x.copy()).requires_grad_()
    l32 = model(xt)
    loss32 = F.cross_entropy(l32, labels)
    loss32.backward()
    d32 = float(np.max(np.abs(l32.detach().numpy().astype(np.float64) - ref)))
    params = dict(model.named_parameters())
    # error of each sampled float32 gradient relative to that tensor's reference L2 norm, floored at
    # 1e-6 x the largest reference norm: some gradients are analytically zero (a bias whose shift is
    # removed by a later train-mode BatchNorm) and only carry rounding noise
    top = max(g["norm"] for g in fx["reference"]["grads"])
    worst = (0.0, "")
    zeros = 0
    for g in fx["reference"]["grads"]:
        t = xt if g["name"] == "input" else params[mapping[g["name"]]]
        got = t.grad.detach().numpy().reshape(-1)[g["index"]].astype(np.float64)
        want = np.array(g["value"])
        scale = max(g["norm"], 1e-6 * top)
        rel = float(np.max(np.abs(got - want))) / scale
        if g["norm"] < 1e-6 * top:
            zeros += 1
        if rel > worst[0]:
            worst = (rel, g["name"])
    print("%-20s %4d stripped, all listed | max|logits64-ref| %.1e | max|logits32-ref| %.1e | "
          "loss32 %.6f ref %.6f | worst float32 grad err/norm %.1e (%s) | %d ~zero grads"
          % (name, len(stripped), d64, d32, float(loss32), fx["reference"]["loss"], worst[0], worst[1], zeros))
    if d64 > 1e-9:
        print("FAIL: float64 logits differ by more than 1e-9")
        ok = False
    if d32 > 1e-3:
        print("FAIL: float32 logits differ by more than 1e-3")
        ok = False
    grad_names = {g["name"] for g in fx["reference"]["grads"]}
    if "input" not in grad_names:
        print("FAIL: no input gradient")
        ok = False
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*", help="model names (default: all): " + " ".join(ALL_MODELS))
    ap.add_argument("--verify", action="store_true", help="verify written train fixtures instead of generating")
    args = ap.parse_args()
    names = args.models or ALL_MODELS
    for n in names:
        if n not in ALL_MODELS:
            ap.error("unknown model %r" % n)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    if args.verify:
        names = args.models or [n for n in ALL_MODELS
                                if os.path.exists(os.path.join(HERE, n + "_train", "fixture.json"))]
        ok = all([verify(n) for n in names])
        print("verify:", "OK" if ok else "FAILED")
        sys.exit(0 if ok else 1)
    report, failed = [], []
    for n in names:
        try:
            generate(n, report)
        except Exception as e:  # noqa: BLE001
            import traceback
            traceback.print_exc()
            failed.append((n, "%s: %s" % (type(e).__name__, e)))
    print_table(report)
    if failed:
        print("\nFAILED:")
        for n, why in failed:
            print("  %s: %s" % (n, why))
        sys.exit(1)


if __name__ == "__main__":
    main()
