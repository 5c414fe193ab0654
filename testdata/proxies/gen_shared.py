#!/usr/bin/python3
"""PyTorch reference values of the proxies on a network with shared weights, exported the way most
users export: torch.onnx.export's defaults (eval mode, constant folding, torch 1.13's default opset).

    /usr/bin/python3 testdata/proxies/gen_shared.py          # writes shared.onnx and shared.json here

The network applies one Conv2d twice and one Linear twice (shared weights: one parameter each, read
by two ONNX nodes), and has two 1x1 convolutions with zero biases of the same shape, which the
exporter merges into one initializer read by both Conv nodes (as it merges the zero biases of
folded BatchNormalization in torchvision exports). There is no BatchNormalization, so the exported
graph computes exactly the PyTorch module in every mode, and the reference proxies of
gen_proxies.py (float64, module hooks accumulating over calls, gradients summed over uses) apply
unchanged. The batch (4x3x16x16, lcg_uniform seed 7 in [-2, 2]) and labels are stored in the JSON.
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
    print("wrote shared.onnx and shared.json; shared initializers:", shared)


if __name__ == "__main__":
    main()
