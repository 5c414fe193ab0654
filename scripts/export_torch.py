#!/usr/bin/python3
"""Export a PyTorch nn.Module to ONNX in the form zerocost measures best.

That form is (docs/exports.md says why): training mode (model.train(), TrainingMode.TRAINING,
no constant folding, so BatchNormalization stays in the graph and normalises with batch statistics,
as the zero-cost reference does), dropout probabilities 0 (so data proxies do not change from run to
run), opset 17, a dynamic batch axis (so --batch-size applies), and the sample size recorded in the
file's metadata (zerocost.input_shape, so `zerocost rank` needs no --input-shape).

From Python (any module, any code that builds it):

    import sys; sys.path.insert(0, "scripts")
    from export_torch import export
    export(MyNet(), "mynet.onnx", input_shape=(3, 32, 32))

From the shell, for a module that a function builds (module.path:function, keyword arguments as
key=value, numbers and True/False read as such):

    /usr/bin/python3 scripts/export_torch.py torchvision.models:resnet18 num_classes=10 \\
        --input-shape 3x32x32 -o resnet18.onnx

The module given to export() is not changed: it is copied, and the copy exported.
"""

import argparse
import copy
import importlib
import sys
import warnings

import torch
import torch.nn as nn

OPSETS = (17, 16, 15, 14)  # 17 first; older ones only when the exporter cannot write 17
SHAPE_KEY = "zerocost.input_shape"


def _no_dropout(model):
    for m in model.modules():
        if isinstance(m, (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
                          nn.FeatureAlphaDropout)):
            m.p = 0.0
        if isinstance(m, nn.MultiheadAttention):
            m.dropout = 0.0
        if type(m).__name__ == "StochasticDepth":  # torchvision.ops.StochasticDepth
            m.p = 0.0
    return model


def export(model, path, input_shape=None, example=None, opsets=OPSETS, input_names=None,
           dynamic_axes=None):
    """Export model to path; returns the opset written.

    input_shape: one sample's size without the batch, e.g. (3, 32, 32); the example batch is then
    two random samples (BatchNormalization in training mode needs more than one), and the size is
    recorded in the file's metadata. example: the example input(s) instead, a tensor or a tuple,
    batch first. dynamic_axes: by default axis 0 of every input and output is the dynamic batch.
    """
    if example is None:
        if input_shape is None:
            raise ValueError("export: give input_shape (one sample, e.g. (3, 32, 32)) or example")
        example = torch.randn(2, *input_shape)
    inputs = example if isinstance(example, tuple) else (example,)
    if input_names is None:
        input_names = ["input"] if len(inputs) == 1 else ["input_%d" % i for i in range(len(inputs))]
    model = _no_dropout(copy.deepcopy(model)).train()
    with torch.no_grad():
        outputs = model(*inputs)
    n_out = len(outputs) if isinstance(outputs, (tuple, list)) else 1
    output_names = ["output"] if n_out == 1 else ["output_%d" % i for i in range(n_out)]
    if dynamic_axes is None:
        dynamic_axes = {name: {0: "batch"} for name in input_names + output_names}
    last = None
    for opset in opsets:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(model, inputs, path, training=torch.onnx.TrainingMode.TRAINING,
                                  do_constant_folding=False, opset_version=opset,
                                  input_names=input_names, output_names=output_names,
                                  dynamic_axes=dynamic_axes)
            break
        except Exception as e:  # noqa: BLE001  (the next opset, then the last error)
            last = e
    else:
        raise last
    if opset != opsets[0]:
        print("export_torch: opset %d could not be written (%s); wrote opset %d (zerocost upgrades it)"
              % (opsets[0], last, opset), file=sys.stderr)
    if input_shape is not None and len(inputs) == 1:
        _record_shape(path, input_shape)
    return opset


def _record_shape(path, input_shape):
    try:
        import onnx
    except ImportError:
        print("export_torch: the onnx package is missing, so the input size is not recorded: give "
              "zerocost --input-shape %s" % "x".join(map(str, input_shape)), file=sys.stderr)
        return
    m = onnx.load(path)
    for p in list(m.metadata_props):
        if p.key == SHAPE_KEY:
            m.metadata_props.remove(p)
    m.metadata_props.add(key=SHAPE_KEY, value="x".join(str(int(d)) for d in input_shape))
    onnx.save(m, path)


def _value(text):
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return {"True": True, "False": False, "None": None}.get(text, text)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("builder", help="module.path:function that returns the nn.Module")
    ap.add_argument("kwargs", nargs="*", help="key=value arguments of the function")
    ap.add_argument("--input-shape", required=True, help="one sample's size, e.g. 3x32x32")
    ap.add_argument("-o", "--output", required=True, help="ONNX file to write")
    ap.add_argument("--seed", type=int, default=0, help="torch.manual_seed before building")
    args = ap.parse_args(argv)
    mod, _, fn = args.builder.partition(":")
    if not fn:
        ap.error("builder %r: want module.path:function" % args.builder)
    try:
        build = getattr(importlib.import_module(mod), fn)
    except (ImportError, AttributeError) as e:
        ap.error("builder %r: %s" % (args.builder, e))
    kwargs = {}
    for kv in args.kwargs:
        k, sep, v = kv.partition("=")
        if not sep:
            ap.error("argument %r: want key=value" % kv)
        kwargs[k] = _value(v)
    try:
        shape = tuple(int(d) for d in args.input_shape.lower().split("x"))
    except ValueError:
        ap.error("--input-shape %r: want sizes joined by x, e.g. 3x32x32" % args.input_shape)
    torch.manual_seed(args.seed)
    model = build(**kwargs)
    opset = export(model, args.output, input_shape=shape)
    print("wrote %s (training mode, opset %d, dynamic batch, %s=%s)" % (args.output, opset, SHAPE_KEY,
                                                                       args.input_shape))


if __name__ == "__main__":
    main()
