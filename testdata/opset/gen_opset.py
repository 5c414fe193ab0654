#!/usr/bin/python3
"""Old-opset fixtures: one small CNN exported by PyTorch at opsets 9 and 11.

Run from the repository root with Debian's PyTorch (torch 1.13, onnx 1.12, numpy):

    /usr/bin/python3 testdata/opset/gen_opset.py

The network uses the layers whose ONNX form changed between opsets 7 and 17: Conv, BatchNorm, ReLU,
MaxPool, nearest interpolation (Upsample at 9, Resize at 11), F.pad (Pad with a pads attribute at 9,
computed pads input at 11), hardtanh (Clip with attributes at 9, inputs at 11), unsqueeze/squeeze
(axes attributes), softmax over the channels of a 4-D tensor, flatten, linear and a final softmax.
For each opset it writes two exports next to this script:

* cnn_opset<N>_train.onnx: model.train(), TrainingMode.TRAINING; BatchNormalization keeps its five
  outputs (the training form of opsets 7-13: Y from batch statistics).
* cnn_opset<N>_eval.onnx: model.eval(), TrainingMode.EVAL, constant folding (BatchNorm folded into
  the convolution), as torch.onnx.export does by default.

reference.json holds the input batch (float32, 2x3x8x8) and, for every file, PyTorch's float32
output for it (train: batch statistics; eval: running statistics). Every export and every reference
forward starts from its own deep copy of the seeded model, so running-statistics updates never leak.
Two runs write byte-identical files.
"""

import copy
import json
import os

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
SHAPE = (2, 3, 8, 8)
OPSETS = (9, 11)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 3)
        self.fc = nn.Linear(4 * 4 * 4, 5)

    def forward(self, x):
        y = F.relu(self.bn(self.conv1(x)))              # 8x8
        y = F.max_pool2d(y, 2)                          # 4x4
        y = F.interpolate(y, scale_factor=2, mode="nearest")  # 8x8
        y = F.pad(y, (1, 1, 1, 1))                      # 10x10
        y = self.conv2(y)                               # 8x8
        y = y * F.softmax(y, dim=1)                     # channel softmax of a 4-D tensor
        y = F.hardtanh(y, -0.5, 0.5)
        y = y.unsqueeze(1).squeeze(1)
        y = F.max_pool2d(y, 2)                          # 4x4
        y = torch.flatten(y, 1)
        return F.softmax(self.fc(y), dim=1)


def base_model():
    torch.manual_seed(0)
    m = Net()
    with torch.no_grad():  # running statistics and affine parameters away from their defaults
        m.bn.running_mean.copy_(torch.tensor([0.1, -0.2, 0.05, 0.3]))
        m.bn.running_var.copy_(torch.tensor([0.5, 1.5, 0.8, 2.0]))
        m.bn.weight.copy_(torch.tensor([1.2, 0.7, 1.0, 0.9]))
        m.bn.bias.copy_(torch.tensor([0.1, 0.0, -0.1, 0.2]))
    return m


def main():
    base = base_model()
    x = torch.from_numpy(np.sin(0.37 * np.arange(np.prod(SHAPE)) + 0.1).astype(np.float32).reshape(SHAPE) * 2)
    ref = {"input_shape": list(SHAPE), "input": [float(v) for v in x.flatten()], "outputs": {}}
    for opset in OPSETS:
        for mode in ("train", "eval"):
            name = f"cnn_opset{opset}_{mode}.onnx"
            train = mode == "train"
            m = copy.deepcopy(base).train(train)
            torch.onnx.export(m, x, os.path.join(HERE, name), opset_version=opset,
                              training=torch.onnx.TrainingMode.TRAINING if train else torch.onnx.TrainingMode.EVAL,
                              do_constant_folding=not train, input_names=["input"], output_names=["probs"])
            onnx.checker.check_model(onnx.load(os.path.join(HERE, name)))
            with torch.no_grad():
                out = copy.deepcopy(base).train(train)(x)
            ref["outputs"][name] = [float(v) for v in out.flatten()]
            print(name, os.path.getsize(os.path.join(HERE, name)), "bytes")
    with open(os.path.join(HERE, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
