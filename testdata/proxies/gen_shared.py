#!/usr/bin/python3
"""PyTorch reference values of the proxies on a network with shared weights, exported the way most
users export: torch.onnx.export's defaults (eval mode, constant folding, torch 1.13's default opset).

    /usr/bin/python3 testdata/proxies/gen_shared.py          # writes shared.onnx, shared.json, folded.onnx here

The network applies one Conv2d twice and one Linear twice (shared weights: one parameter each, read
by two ONNX nodes), and has two 1x1 convolutions with zero biases of the same shape, which the
exporter merges into one initializer read by both Conv nodes (as it merges the zero biases of
folded BatchNormalization in torchvision exports). There is no BatchNormalization, so the exported
graph computes exactly the PyTorch module in every mode, and the reference proxies of
gen_proxies.py (float64, module hooks accumulating over calls, gradients summed over uses) apply
unchanged. The batch (4x3x16x16, lcg_uniform seed 7 in [-2, 2]) and labels are stored in the JSON.

folded.onnx is a small Conv-BatchNorm-ReLU network exported exactly as `torch.onnx.export(model, x,
path)` with a one-sample x: eval mode, BatchNormalization folded into the convolutions (weights and
biases named onnx::Conv_N), every size static with a batch of 1. The tests check what zerocost says
about such a file (notes) and that it scores it at the requested batch.
"""

import json
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_proxies as gp  # noqa: E402
import gen_fixtures as gf  # noqa: E402  (gen_proxies put testdata/torch on the path)

SHAPE = [4, 3, 16, 16]


class Shared(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.body = nn.Conv2d(8, 8, 3, padding=1)   # applied twice
        self.left = nn.Conv2d(8, 8, 1)
        self.right = nn.Conv2d(8, 8, 1)
        with torch.no_grad():                        # identical biases: merged on export
            self.left.bias.zero_()
            self.right.bias.zero_()
        self.fc = nn.Linear(8, 8)                     # applied twice
        self.head = nn.Linear(8, 10)
        self.acts = nn.ModuleList([nn.ReLU() for _ in range(7)])

    def forward(self, x):
        a = self.acts
        x = a[0](self.stem(x))
        x = a[1](self.body(x))
        x = a[2](self.body(x))
        x = a[3](self.left(x)) + a[4](self.right(x))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        x = a[5](self.fc(x))
        x = a[6](self.fc(x))
        return self.head(x)


class Folded(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))


def export_folded():
    torch.manual_seed(5)
    model = Folded()
    with torch.no_grad():  # running statistics of a trained network, so that folding changes the weights
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    torch.onnx.export(model.eval(), torch.zeros(1, 3, 16, 16), os.path.join(HERE, "folded.onnx"))


def main():
    torch.manual_seed(3)
    model = Shared().eval()
    path = os.path.join(HERE, "shared.onnx")
    torch.onnx.export(model, torch.zeros(SHAPE), path, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
    g = onnx.load(path).graph
    readers = {}
    for n in g.node:
        for i in n.input:
            readers.setdefault(i, []).append(n.name)
    shared = {k: v for k, v in readers.items() if len(v) > 1 and k in {t.name for t in g.initializer}}
    if len(shared) < 3:
        raise RuntimeError("expected the export to share body.weight, fc.weight and one bias, got %s" % shared)
    x = torch.from_numpy(gf.lcg_uniform(7, int(np.prod(SHAPE)), -2, 2).astype(np.float64).reshape(SHAPE))
    y = torch.tensor([1, 5, 2, 9])
    proxies = {}
    proxies.update(gp.p_gradients(model, x, y))
    proxies["grasp"] = gp.p_grasp(model, x, y)
    proxies["fisher"] = gp.p_fisher(model, x, y)
    proxies["l2_norm"] = gp.p_l2_norm(model)
    proxies["flops"] = gp.p_flops(model, x)
    proxies["synflow"] = gp.p_synflow(model, SHAPE, bn=False)
    proxies["jacob_cov"] = gp.p_jacob_cov(model, x)
    proxies["nwot"] = gp.p_nwot(model, x, nn.ReLU)
    proxies["params"] = gp.p_params(model)
    out = {"model": "shared", "input_shape": SHAPE, "input": [float(v) for v in x.flatten()],
           "labels": [int(v) for v in y], "shared_initializers": shared, "proxies": proxies,
           "layer_order": [k for k, _ in gp.counted_layers(model)]}
    gp.write_json(os.path.join(HERE, "shared.json"), out)
    export_folded()
    print("wrote shared.onnx, shared.json and folded.onnx; shared initializers:", shared)


if __name__ == "__main__":
    main()
