#!/usr/bin/python3
"""Export the models of the new-user survey (docs/models-tried.md) as ONNX files.

Run with Debian's PyTorch (torch 1.13, torchvision 0.14, onnx 1.12); weights are random (no download):

    /usr/bin/python3 scripts/export_models.py [OUT_DIR] [--only NAME,NAME] [--skip-tv] [--skip-third-party]

OUT_DIR defaults to /tmp/zerocost-models (never the repository). It writes:

  <name>_default.onnx   every torchvision classifier, exported as a user does by default:
                        torch.onnx.export(model.eval(), x, path) -- eval mode, constant folding,
                        torch 1.13's default opset (14), static input 1x3xSxS;
  <name>_train.onnx     the same model in training mode: model.train(), dropout/stochastic depth 0,
                        training=TrainingMode.TRAINING, do_constant_folding=False, opset 17 (falling
                        back to 16, 15, 14), static input 2x3xSxS (train-mode BatchNormalization over a
                        batch of 1 is degenerate, and PyTorch refuses it on 1x1 feature maps);
  third-party-like files (eval mode, batch 1):
    <cnn>_opsetN.onnx   small CNNs, resnet18 and mobilenet_v2 at opsets 7, 9, 10, 11, 12;
    nhwc_*.onnx         channels-last models: forward takes N x H x W x C and permutes to NCHW inside,
                        input declared 1x64x64x3 (as TensorFlow/Keras/MediaPipe exports look);
    *_fp16.onnx         an fp32 export whose initializers, Constant tensors, Cast targets, inputs,
                        outputs and value_info are converted to float16 (nothing inserted), checked
                        with onnx.checker (full_check).

S is the smallest of SIZES that builds and exports (64 for most). A model whose parameters take more
than MAX_BYTES (300 MB) is skipped. The outcome of every export (ok/failed and why, input shape, file
size, opset) is written to OUT_DIR/export_report.json and printed as a table.
"""

import argparse
import inspect
import io
import json
import os
import sys
import time
import traceback
import warnings

import numpy as np
import onnx
from onnx import numpy_helper, TensorProto
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
import torchvision.models as TV

NUM_CLASSES = 10
SIZES = (64, 75, 96, 128, 160, 224, 299)
MAX_BYTES = 300 * 1024 * 1024
TRAIN_OPSETS = (17, 16, 15, 14)
OLD_OPSETS = (7, 9, 10, 11, 12)


def classifier_names():
    """Every torchvision classification builder (torchvision.models, not detection/segmentation/...)."""
    if hasattr(TV, "list_models"):
        return sorted(TV.list_models(module=TV))
    names = []
    for n, f in vars(TV).items():
        if inspect.isfunction(f) and n[0].islower() and not n.startswith(("get_", "list_")):
            names.append(n)
    return sorted(names)


def build(name, size):
    kwargs = {"weights": None, "num_classes": NUM_CLASSES}
    if name.startswith("vit_"):
        kwargs["image_size"] = size
    if name == "maxvit_t":
        kwargs["input_size"] = (size, size)
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(TV, name)(**kwargs)


def param_bytes(model):
    return sum(p.numel() * p.element_size() for p in model.parameters()) + \
        sum(b.numel() * b.element_size() for b in model.buffers())


def disable_randomness(model):
    """As testdata/torch/gen_fixtures.py: dropout p=0, attention dropout 0, stochastic depth 0."""
    for m in model.modules():
        if isinstance(m, nn.modules.dropout._DropoutNd):
            m.p = 0.0
        if isinstance(m, nn.MultiheadAttention):
            m.dropout = 0.0
        if type(m).__name__ == "StochasticDepth":
            m.p = 0.0


def short(e):
    s = str(e).strip().splitlines()
    return "%s: %s" % (type(e).__name__, s[0][:300] if s else "")


def export_default(model, x, path):
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, x, path)   # the defaults: eval, constant folding, opset 14
    return 14


def export_train(model, x, path):
    disable_randomness(model)
    model.train()
    errors = []
    for opset in TRAIN_OPSETS:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(model, x, path, opset_version=opset, do_constant_folding=False,
                                  training=torch.onnx.TrainingMode.TRAINING)
            return opset
        except Exception as e:  # noqa: BLE001 - try the next opset
            errors.append("opset %d: %s" % (opset, short(e)))
    raise RuntimeError(" | ".join(errors))


def record(report, name, form, status, **kw):
    r = {"model": name, "form": form, "status": status}
    r.update(kw)
    report.append(r)
    print("%-28s %-8s %-7s %s" % (name, form, status,
                                  " ".join("%s=%s" % (k, v) for k, v in kw.items())), flush=True)


def file_info(path):
    return {"file": os.path.basename(path), "mb": round(os.path.getsize(path) / 1e6, 2)}


def export_torchvision(out, report, only):
    for name in classifier_names():
        if only and name not in only:
            continue
        for form in ("default", "train"):
            path = os.path.join(out, "%s_%s.onnx" % (name, form))
            batch = 1 if form == "default" else 2
            tried = []
            done = False
            for size in SIZES:
                t0 = time.time()
                try:
                    model = build(name, size)
                except Exception as e:  # noqa: BLE001
                    tried.append("size %d: build: %s" % (size, short(e)))
                    continue
                nb = param_bytes(model)
                if nb > MAX_BYTES:
                    record(report, name, form, "skipped",
                           why="parameters take %.0f MB (> %d MiB)" % (nb / 1e6, MAX_BYTES // (1024 * 1024)))
                    done = True
                    break
                x = torch.randn(batch, 3, size, size)
                try:
                    if form == "default":
                        opset = export_default(model, x, path)
                    else:
                        opset = export_train(model, x, path)
                except Exception as e:  # noqa: BLE001 - try the next size
                    tried.append("size %d: %s" % (size, short(e)))
                    if os.path.exists(path):
                        os.remove(path)
                    continue
                info = file_info(path)
                if os.path.getsize(path) > MAX_BYTES:
                    os.remove(path)
                    record(report, name, form, "skipped", why="file %.0f MB" % info["mb"])
                else:
                    record(report, name, form, "ok", input=[batch, 3, size, size], opset=opset,
                           secs=round(time.time() - t0, 1), earlier=tried, **info)
                done = True
                break
            if not done:
                record(report, name, form, "failed", why=" || ".join(tried))


# ------------------------------------------------------------------------------------------
# Third-party-like models
# ------------------------------------------------------------------------------------------
class CNNBasic(nn.Module):
    """conv-bn-relu-maxpool x2, flatten, dropout, linear: the tutorial CNN."""

    def __init__(self):
        super().__init__()
        self.f = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2))
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(32 * 16 * 16, NUM_CLASSES)

    def forward(self, x):
        return self.fc(self.drop(torch.flatten(self.f(x), 1)))


class CNNOps(nn.Module):
    """The ops whose form changed between opsets 7 and 13: Clip (ReLU6), Pad (reflect), Upsample/Resize,
    Split (chunk), ReduceMean, Squeeze/Unsqueeze, Concat, Softmax, Sigmoid, global pooling."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 16, 3, stride=2)
        self.bn1 = nn.BatchNorm2d(16)
        self.c2 = nn.Conv2d(8, 16, 3, padding=1)
        self.c3 = nn.Conv2d(24, 32, 1)
        self.fc = nn.Linear(32, NUM_CLASSES)

    def forward(self, x):
        x = F.pad(x, (1, 1, 1, 1), mode="reflect")
        x = torch.clamp(self.bn1(self.c1(x)), 0.0, 6.0)                 # ReLU6 -> Clip
        a, b = torch.chunk(x, 2, dim=1)                                  # Split
        a = F.interpolate(F.max_pool2d(a, 2), scale_factor=2.0, mode="nearest")  # Upsample/Resize
        b = F.relu(self.c2(b))
        y = torch.cat([a, b], dim=1)                                     # Concat
        g = torch.sigmoid(y.mean(dim=(2, 3), keepdim=True))              # ReduceMean, Sigmoid
        y = self.c3(y * g)
        y = F.adaptive_avg_pool2d(y, 1).squeeze(3).squeeze(2)           # GlobalAveragePool, Squeeze
        y = y.unsqueeze(1).squeeze(1)                                    # Unsqueeze
        return F.softmax(self.fc(y), dim=1)


class NHWC(nn.Module):
    """Takes N x H x W x C, permutes to NCHW inside: what a TensorFlow/Keras/MediaPipe export looks like."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x.permute(0, 3, 1, 2))


def third_party_sources():
    def tv(name):
        return lambda: build(name, 64)
    return {
        "cnn_basic": lambda: CNNBasic(),
        "cnn_ops": lambda: CNNOps(),
        "resnet18": tv("resnet18"),
        "mobilenet_v2": tv("mobilenet_v2"),
    }


def to_fp16(mp):
    """Every float32 tensor of an ONNX model becomes float16, inserting no node: initializers,
    Constant values, Cast(to=FLOAT) targets, graph inputs/outputs and value_info."""
    def conv_tensor(t):
        if t.data_type == TensorProto.FLOAT:
            a = numpy_helper.to_array(t).astype(np.float16)
            t.CopyFrom(numpy_helper.from_array(a, t.name))

    def conv_vi(v):
        tt = v.type.tensor_type
        if tt.elem_type == TensorProto.FLOAT:
            tt.elem_type = TensorProto.FLOAT16

    g = mp.graph
    for t in g.initializer:
        conv_tensor(t)
    for n in g.node:
        for a in n.attribute:
            if a.type == onnx.AttributeProto.TENSOR:
                conv_tensor(a.t)
            if n.op_type == "Cast" and a.name == "to" and a.i == TensorProto.FLOAT:
                a.i = TensorProto.FLOAT16
    for v in list(g.input) + list(g.output) + list(g.value_info):
        conv_vi(v)
    return mp


def export_third_party(out, report, only):
    srcs = third_party_sources()
    for name, make in srcs.items():
        if only and name not in only:
            continue
        for opset in OLD_OPSETS:
            fname = "%s_opset%d" % (name, opset)
            path = os.path.join(out, fname + ".onnx")
            model = make().eval()
            x = torch.randn(1, 3, 64, 64)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    torch.onnx.export(model, x, path, opset_version=opset)
                record(report, fname, "opset", "ok", input=[1, 3, 64, 64], opset=opset, **file_info(path))
            except Exception as e:  # noqa: BLE001
                if os.path.exists(path):
                    os.remove(path)
                record(report, fname, "opset", "failed", why=short(e))

    # channels-last
    for name, make, opset in (("nhwc_cnn_basic", srcs["cnn_basic"], 13),
                              ("nhwc_mobilenet_v2", srcs["mobilenet_v2"], 13),
                              ("nhwc_cnn_ops_opset11", srcs["cnn_ops"], 11)):
        if only and name not in only:
            continue
        path = os.path.join(out, name + ".onnx")
        try:
            model = NHWC(make()).eval()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(model, torch.randn(1, 64, 64, 3), path, opset_version=opset,
                                  input_names=["input_1"], output_names=["Identity"])
            record(report, name, "nhwc", "ok", input=[1, 64, 64, 3], opset=opset, **file_info(path))
        except Exception as e:  # noqa: BLE001
            record(report, name, "nhwc", "failed", why=short(e))

    # fp16
    for name, make in (("cnn_basic", srcs["cnn_basic"]), ("resnet18", srcs["resnet18"]),
                       ("mobilenet_v2", srcs["mobilenet_v2"])):
        fname = name + "_fp16"
        if only and fname not in only and name not in only:
            continue
        path = os.path.join(out, fname + ".onnx")
        try:
            buf = io.BytesIO()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(make().eval(), torch.randn(1, 3, 64, 64), buf)
            mp = to_fp16(onnx.load_model_from_string(buf.getvalue()))
            onnx.checker.check_model(mp, full_check=True)
            onnx.save(mp, path)
            left = [t.name for t in mp.graph.initializer if t.data_type == TensorProto.FLOAT]
            record(report, fname, "fp16", "ok", input=[1, 3, 64, 64], opset=14, checker="ok",
                   fp32_left=len(left), **file_info(path))
        except Exception as e:  # noqa: BLE001
            if os.path.exists(path):
                os.remove(path)
            record(report, fname, "fp16", "failed", why=short(e))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?", default="/tmp/zerocost-models")
    ap.add_argument("--only", default="", help="comma-separated model names")
    ap.add_argument("--skip-tv", action="store_true", help="no torchvision default/train exports")
    ap.add_argument("--skip-third-party", action="store_true", help="no opset/nhwc/fp16 files")
    ap.add_argument("--max-mb", type=int, default=300, help="skip models whose parameters take more (MiB)")
    args = ap.parse_args()
    global MAX_BYTES
    MAX_BYTES = args.max_mb * 1024 * 1024
    os.makedirs(args.out, exist_ok=True)
    only = set(s for s in args.only.split(",") if s)
    torch.set_num_threads(1)
    report_path = os.path.join(args.out, "export_report.json")
    old = []
    if os.path.exists(report_path):
        with open(report_path) as f:
            old = json.load(f)
    report = []
    print("torch %s, torchvision %s, onnx %s" % (torch.__version__, torchvision.__version__, onnx.__version__))
    if not args.skip_third_party:
        export_third_party(args.out, report, only)
    if not args.skip_tv:
        export_torchvision(args.out, report, only)
    # merge with an earlier report: entries of this run replace those with the same (model, form)
    keys = {(r["model"], r["form"]) for r in report}
    merged = [r for r in old if (r["model"], r["form"]) not in keys] + report
    with open(report_path, "w") as f:
        json.dump(merged, f, indent=1)
    n_ok = sum(r["status"] == "ok" for r in report)
    print("%d exports: %d ok, %d skipped, %d failed; report in %s" % (
        len(report), n_ok, sum(r["status"] == "skipped" for r in report),
        sum(r["status"] == "failed" for r in report), report_path))


if __name__ == "__main__":
    main()
