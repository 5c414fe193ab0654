#!/usr/bin/python3
"""Export the coverage set: real architectures, each both ways, for docs/coverage.md.

    /usr/bin/python3 scripts/export_coverage.py [OUT]     # default /tmp/zerocost-coverage

Needs Debian's PyTorch (python3-torch 1.13, python3-torchvision 0.14, python3-onnx; `make oracle`).
Every network is built with random weights (weights=None, weights_backbone=None; nothing is
downloaded) and written twice where it applies:

  NAME.default.onnx  torch.onnx.export(model.eval(), x, path): the exporter's defaults (eval mode,
                     constant folding, opset 14, static batch of 1)
  NAME.train.onnx    model.train(), training=TrainingMode.TRAINING, do_constant_folding=False,
                     opset 17 (14 when 17 fails), dynamic batch axis, every dropout probability 0
                     (nn.Dropout, StochasticDepth, nn.MultiheadAttention), batch of 2 in the example

OUT/status.json records, per file, "exported" or the exception that stopped the export, and
OUT/status.md the same as a table. The files are big (hundreds of MB in all): never write them into
the repository.
"""

import json
import os
import sys
import time
import traceback
from collections import OrderedDict

import torch
import torch.nn as nn
import torchvision
from torchvision.ops.misc import FrozenBatchNorm2d  # noqa: F401  (used by the FPN backbones)

OUT = sys.argv[1] if len(sys.argv) > 1 else "/tmp/zerocost-coverage"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.realpath(OUT).startswith(os.path.realpath(REPO) + os.sep) or os.path.realpath(OUT) == os.path.realpath(REPO):
    sys.exit("export_coverage.py: %s is inside the repository; give a folder outside it" % OUT)

torch.manual_seed(0)
tvm = torchvision.models


# ---- models that are not torchvision classifiers -------------------------------------------------

class FirstOutput(nn.Module):
    """Returns out["out"] of a torchvision segmenter (a dict otherwise)."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return self.m(x)["out"]


class Features(nn.Module):
    """A detection backbone (FPN or SSD feature extractor): its feature maps as a tuple, in order."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        out = self.m(x)
        if isinstance(out, (dict, OrderedDict)):
            return tuple(out.values())
        return out


class TextCls(nn.Module):
    """nn.Embedding + nn.TransformerEncoder + mean over tokens + nn.Linear."""

    def __init__(self, vocab=1000, d=64, heads=4, layers=2, classes=4):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        layer = nn.TransformerEncoderLayer(d, heads, 4 * d, dropout=0.1, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.fc = nn.Linear(d, classes)

    def forward(self, ids):
        return self.fc(self.enc(self.emb(ids)).mean(1))


class RNNLM(nn.Module):
    """Embedding -> nn.LSTM or nn.GRU (batch_first) -> Linear over the vocabulary: N×T×V logits."""

    def __init__(self, cell, vocab=500, d=32, hidden=64, layers=1):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.rnn = getattr(nn, cell)(d, hidden, layers, batch_first=True)
        self.fc = nn.Linear(hidden, vocab)

    def forward(self, ids):
        h, _ = self.rnn(self.emb(ids))
        return self.fc(h)


class AudioCls(nn.Module):
    """A 1-D conv audio classifier on N×1×L waveforms (M5-like)."""

    def __init__(self, classes=10):
        super().__init__()
        chans = [1, 16, 32, 32, 64]
        layers = []
        for i in range(4):
            k, s = (80, 4) if i == 0 else (3, 1)
            layers += [nn.Conv1d(chans[i], chans[i + 1], k, stride=s), nn.BatchNorm1d(chans[i + 1]),
                       nn.ReLU(), nn.MaxPool1d(4)]
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(chans[-1], classes)

    def forward(self, x):
        return self.fc(self.features(x).mean(-1))


def img(size):
    return lambda n: torch.randn(n, 3, size, size)


def tokens(vocab, t):
    return lambda n: torch.randint(0, vocab, (n, t), dtype=torch.int64)


# name -> (builder, example input for a batch n, modes)
BOTH = ("default", "train")
MODELS = OrderedDict([
    ("resnet18", (lambda: tvm.resnet18(weights=None), img(32), BOTH)),
    ("mobilenet_v3_small", (lambda: tvm.mobilenet_v3_small(weights=None), img(32), BOTH)),
    ("efficientnet_b0", (lambda: tvm.efficientnet_b0(weights=None), img(32), BOTH)),
    ("squeezenet1_1", (lambda: tvm.squeezenet1_1(weights=None), img(64), BOTH)),
    ("shufflenet_v2_x0_5", (lambda: tvm.shufflenet_v2_x0_5(weights=None), img(32), BOTH)),
    ("regnet_x_400mf", (lambda: tvm.regnet_x_400mf(weights=None), img(32), BOTH)),
    ("densenet121", (lambda: tvm.densenet121(weights=None), img(32), BOTH)),
    ("convnext_tiny", (lambda: tvm.convnext_tiny(weights=None), img(32), BOTH)),
    ("vit_b_16", (lambda: tvm.vit_b_16(weights=None, image_size=32), img(32), BOTH)),
    ("lraspp_mobilenet_v3_large", (lambda: FirstOutput(tvm.segmentation.lraspp_mobilenet_v3_large(
        weights=None, weights_backbone=None, num_classes=4)), img(64), BOTH)),
    ("deeplabv3_mobilenet_v3_large", (lambda: FirstOutput(tvm.segmentation.deeplabv3_mobilenet_v3_large(
        weights=None, weights_backbone=None, num_classes=4, aux_loss=False)), img(64), BOTH)),
    ("fcn_resnet50", (lambda: FirstOutput(tvm.segmentation.fcn_resnet50(
        weights=None, weights_backbone=None, num_classes=4, aux_loss=False)), img(64), BOTH)),
    ("fasterrcnn_mobilenet_v3_fpn_backbone", (lambda: Features(
        tvm.detection.fasterrcnn_mobilenet_v3_large_fpn(weights=None, weights_backbone=None).backbone),
        img(64), BOTH)),
    ("fasterrcnn_resnet18_fpn_backbone", (lambda: Features(
        tvm.detection.backbone_utils.resnet_fpn_backbone(backbone_name="resnet18", weights=None,
                                                         trainable_layers=5)), img(64), BOTH)),
    ("ssdlite320_backbone", (lambda: Features(
        tvm.detection.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None).backbone),
        img(64), BOTH)),
    ("text_transformer", (lambda: TextCls(), tokens(1000, 16), BOTH)),
    ("lstm_lm", (lambda: RNNLM("LSTM"), tokens(500, 12), BOTH)),
    ("gru_lm", (lambda: RNNLM("GRU"), tokens(500, 12), BOTH)),
    ("audio_conv1d", (lambda: AudioCls(), lambda n: torch.randn(n, 1, 4000), BOTH)),
])


def no_dropout(model):
    """Every dropout probability 0, so that a training-mode export is deterministic."""
    for m in model.modules():
        if isinstance(m, (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
                          torchvision.ops.StochasticDepth)):
            m.p = 0.0
        if isinstance(m, nn.MultiheadAttention):
            m.dropout = 0.0
    return model


def export(name, build, example, mode):
    path = os.path.join(OUT, "%s.%s.onnx" % (name, mode))
    torch.manual_seed(0)
    model = build()
    if mode == "default":
        torch.onnx.export(model.eval(), example(1), path)
        return path, "defaults (opset 14)"
    no_dropout(model).train()
    last = None
    for opset in (17, 14):
        try:
            torch.onnx.export(model, example(2), path, training=torch.onnx.TrainingMode.TRAINING,
                              do_constant_folding=False, opset_version=opset, input_names=["input"],
                              dynamic_axes={"input": {0: "batch"}})
            return path, "training mode, opset %d" % opset
        except Exception as e:  # noqa: BLE001  (recorded, then the next opset)
            last = e
    raise last


def main():
    os.makedirs(OUT, exist_ok=True)
    status = OrderedDict()
    for name, (build, example, modes) in MODELS.items():
        for mode in modes:
            key = "%s.%s" % (name, mode)
            t0 = time.time()
            try:
                path, how = export(name, build, example, mode)
                status[key] = {"status": "exported", "how": how, "mb": round(os.path.getsize(path) / 2**20, 1),
                               "seconds": round(time.time() - t0, 1)}
            except Exception as e:  # noqa: BLE001  (recorded: the coverage table says why)
                msg = "%s: %s" % (type(e).__name__, str(e).strip().splitlines()[0] if str(e).strip() else "")
                status[key] = {"status": "not exported", "why": msg[:300]}
                traceback.print_exc()
                p = os.path.join(OUT, key + ".onnx")
                if os.path.exists(p):
                    os.remove(p)
            print(key, json.dumps(status[key]), flush=True)
    with open(os.path.join(OUT, "status.json"), "w") as f:
        json.dump(status, f, indent=1)
    with open(os.path.join(OUT, "status.md"), "w") as f:
        f.write("| file | export |\n| --- | --- |\n")
        for k, v in status.items():
            f.write("| %s | %s |\n" % (k, "%s (%s, %.1f MB)" % (v["status"], v["how"], v["mb"])
                                        if v["status"] == "exported" else "not exported: " + v["why"]))


if __name__ == "__main__":
    main()
