#!/usr/bin/python3
"""Independent PyTorch float64 references of the re-initialising proxies (zen, swap, reg_swap,
linear_regions) on the fixture networks, with zerocost's seeded re-initialisation and inputs
reimplemented here in NumPy (proxies/reinit.go), so that the whole pipeline is compared:

    /usr/bin/python3 testdata/proxies/gen_reinit.py            # write testdata/proxies/reinit/NAME.json
    /usr/bin/python3 testdata/proxies/gen_reinit.py --verify   # recompute, compare with the files

Random numbers (proxies/reinit.go): stream_key(seed, purpose, repeat, index) chains SplitMix64;
normals(key, n) is Box-Muller on pairs of SplitMix64 outputs. purpose 1: the weights of layer
`index` (the index in counted_layers order, which is zerocost's layer order); 2: the generated batch
of a repeat; 3: Zen's epsilon. Weights and inputs are rounded to float32 (zerocost feeds float32) and
then used in float64.

Definitions (written from PROXIES.md and the authors' code; docs/proxies.md lists the choices):

* re-initialisation: every nn.Conv2d / nn.Linear weight N(0, 1) ("normal": Zen-NAS, SWAP) or
  N(0, 2 / fan_in) with torch's own fan-in ("kaiming": TE-NAS), biases 0, BatchNorm2d / GroupNorm
  weight 1 and bias 0; train mode.
* zen: x, eps N(0,1) batches of 64; f = the input of the last nn.AdaptiveAvgPool2d call (the
  feature map before global pooling); delta = mean over the batch of sum |f(x) - f(x + 0.01 eps)|;
  score = log delta + sum over BatchNorm2d modules of log sqrt(mean over channels of the batch
  variance (population) of the module's input on the pass of x); mean over the repeats.
  "zen@file": the same on the fixture's own weights (Options.KeepWeights).
* swap: the fixture batch is too small (4, 8 samples), so the 16 "real" samples are
  NormalInput((16, C, H, W), SWAP_DATA_SEED, 0); per repeat N(0,1) re-initialisation, the outputs
  of every nn.ReLU call whose input is 4-D, flattened per sample and concatenated (16 x D), sign;
  score = number of distinct rows of the transpose (torch.unique(dim=0)); mean over the repeats.
* reg_swap: swap x exp(-(P/1e6 - 1.5)^2 / 1.5), P = number of parameters.
* thin: a two-layer, one-channel network exported here (reinit/thin.onnx), on which samples share
  patterns (the fixture networks reach linear_regions' ceiling of 1000).
* linear_regions: per repeat Kaiming re-initialisation, 1000 N(0,1) inputs of C x 3 x 3, the
  signs of every 4-D nn.ReLU call's output concatenated per sample; score = number of distinct
  rows; mean over the repeats.
"""

import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_proxies as gp  # noqa: E402
from gen_new_proxies import splitmix  # noqa: E402

MODELS = ["nb201_a", "nb201_b", "nb201_c", "resnet18", "thin"]
OUT = os.path.join(HERE, "reinit")
SEED = 3
REPEATS = 2
SWAP_DATA_SEED = 11
MU, SIGMA = 1.5, 1.5


def stream_key(seed, purpose, repeat, index):
    k = splitmix(seed, purpose)
    k = splitmix(k, repeat + 1)
    return splitmix(k, index + 1)


def splitmix_np(seed, i):
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + i * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def normals(key, n):
    m = (n + 1) // 2
    j = np.arange(m, dtype=np.uint64) * np.uint64(2)
    z1 = splitmix_np(key, j + np.uint64(1))
    z2 = splitmix_np(key, j + np.uint64(2))
    u1 = ((z1 >> np.uint64(11)).astype(np.float64) + 1.0) * 2.0 ** -53
    u2 = (z2 >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    r = np.sqrt(-2.0 * np.log(u1))
    out = np.empty(2 * m)
    out[0::2] = r * np.cos(2 * np.pi * u2)
    out[1::2] = r * np.sin(2 * np.pi * u2)
    return out[:n]


def f32(v):
    return v.astype(np.float32).astype(np.float64)


def normal_input(shape, seed, repeat, purpose=2):
    return f32(normals(stream_key(seed, purpose, repeat, 0), int(np.prod(shape)))).reshape(shape)


def reinit(m, how, seed, r):
    with torch.no_grad():
        for k, (_, mod) in enumerate(gp.counted_layers(m)):
            v = normals(stream_key(seed, 1, r, k), mod.weight.numel())
            if how == "kaiming":
                fan_in = nn.init._calculate_fan_in_and_fan_out(mod.weight)[0]
                v = v * math.sqrt(2.0 / fan_in)
            mod.weight.copy_(torch.from_numpy(f32(v).reshape(mod.weight.shape)))
            if mod.bias is not None:
                mod.bias.zero_()
        for mod in m.modules():
            if isinstance(mod, (nn.BatchNorm2d, nn.GroupNorm)) and mod.weight is not None:
                mod.weight.fill_(1.0)
                mod.bias.fill_(0.0)


def p_zen(model, sample, keep):
    m = gp.fresh(model)
    state = {"feature": None, "vars": None}
    pools = [mod for mod in m.modules() if isinstance(mod, nn.AdaptiveAvgPool2d)]
    if not pools:
        raise RuntimeError("no AdaptiveAvgPool2d")

    def pool_hook(mod, inp):
        state["feature"] = inp[0].detach().clone()

    def bn_hook(mod, inp):
        if state["vars"] is not None:
            state["vars"].append(float(inp[0].var(dim=(0, 2, 3), unbiased=False).mean()))

    hooks = [p.register_forward_pre_hook(pool_hook) for p in pools]
    hooks += [b.register_forward_pre_hook(bn_hook) for b in m.modules() if isinstance(b, nn.BatchNorm2d)]
    shape = [64] + list(sample)
    scores = []
    for r in range(REPEATS):
        if not keep:
            reinit(m, "normal", SEED, r)
        x = normal_input(shape, SEED, r)
        eps = normal_input(shape, SEED, r, purpose=3)
        mixed = f32(x + 0.01 * eps)
        with torch.no_grad():
            state["vars"] = []
            m(torch.from_numpy(x))
            f1, variances = state["feature"], state["vars"]
            state["vars"] = None
            m(torch.from_numpy(mixed))
            f2 = state["feature"]
        delta = float(torch.sum(torch.abs(f1 - f2))) / shape[0]
        scores.append(math.log(delta) + sum(math.log(math.sqrt(v)) for v in variances))
    for h in hooks:
        h.remove()
    return {"score": float(np.mean(scores)), "repeats": scores}


def relu_signs(m, x):
    acts = []

    def hook(mod, inp, out):
        if len(inp[0].shape) == 4:
            acts.append(torch.sign(out.detach()).reshape(x.shape[0], -1))

    hooks = [mod.register_forward_hook(hook) for mod in m.modules() if isinstance(mod, nn.ReLU)]
    with torch.no_grad():
        m(x)
    for h in hooks:
        h.remove()
    return torch.cat(acts, 1)


def p_swap(model, sample):
    m = gp.fresh(model)
    x = torch.from_numpy(normal_input([16] + list(sample), SWAP_DATA_SEED, 0))
    counts = []
    for r in range(REPEATS):
        reinit(m, "normal", SEED, r)
        counts.append(int(torch.unique(relu_signs(m, x).T, dim=0).shape[0]))
    swap = float(np.mean(counts))
    p = sum(t.numel() for t in model.parameters()) / 1e6
    return ({"score": swap, "repeats": counts},
            {"score": swap * math.exp(-((p - MU) ** 2) / SIGMA), "params": p * 1e6})


def p_linear_regions(model, sample):
    m = gp.fresh(model)
    counts = []
    for r in range(REPEATS):
        reinit(m, "kaiming", SEED, r)
        x = torch.from_numpy(normal_input([1000, sample[0], 3, 3], SEED, r))
        counts.append(int(torch.unique(relu_signs(m, x), dim=0).shape[0]))
    return {"score": float(np.mean(counts)), "repeats": counts}


class Thin(nn.Module):
    """Two 1-channel Conv-BN-ReLU layers on 3x8x8 inputs: few enough neurons (18 at 3x3) that
    samples share sign patterns, so that linear_regions and swap are checked below their ceilings."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 1, 3, padding=1, bias=False), nn.BatchNorm2d(1), nn.ReLU(),
            nn.Conv2d(1, 1, 3, padding=1), nn.BatchNorm2d(1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(1, 10)

    def forward(self, x):
        return self.fc(self.pool(self.body(x)).flatten(1))


def export_thin():
    """Write reinit/thin.onnx (train-mode export: BatchNormalization kept); return the model."""
    torch.manual_seed(0)
    model = Thin()
    model.train()
    torch.onnx.export(model, torch.zeros(4, 3, 8, 8), os.path.join(OUT, "thin.onnx"), input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                      opset_version=17, do_constant_folding=False, training=torch.onnx.TrainingMode.TRAINING)
    return model


def compute(name):
    if name == "thin":
        model, sample = export_thin(), [3, 8, 8]
    else:
        d = os.path.join(gp.REPO, "testdata", "torch", name + "_train")
        model, fx, x, y = gp.load_from_files(d, lambda: gp.gf.build_model(name))
        sample = list(x.shape[1:])
    swap, reg = p_swap(model, sample)
    return {
        "model": name,
        "seed": SEED,
        "repeats": REPEATS,
        "swap_data": {"shape": [16] + sample, "seed": SWAP_DATA_SEED, "repeat": 0},
        "proxies": {
            "zen": p_zen(model, sample, keep=False),
            "zen@file": p_zen(model, sample, keep=True),
            "swap": swap,
            "reg_swap": reg,
            "linear_regions": p_linear_regions(model, sample),
        },
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*")
    ap.add_argument("--verify", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(2)
    os.makedirs(OUT, exist_ok=True)
    errs = []
    for n in args.models or MODELS:
        path = os.path.join(OUT, n + ".json")
        r = compute(n)
        if args.verify:
            e = []
            gp.compare(r, json.load(open(path)), n, e)
            errs += e
            print("%-10s %s" % (n, "OK" if not e else "%d MISMATCHES" % len(e)))
        else:
            gp.write_json(path, r)
        print("%-10s %s" % (n, "  ".join("%s %.8g" % (k, v["score"]) for k, v in r["proxies"].items())))
    for e in errs[:20]:
        print("MISMATCH", e)
    sys.exit(1 if errs else 0)


if __name__ == "__main__":
    main()
