#!/usr/bin/python3
"""Independent PyTorch reference values of the zero-cost proxies (Abdelfattah et al. 2021).

Run from the repository root with Debian's PyTorch (torch 1.13, torchvision 0.14, onnx 1.12):

    /usr/bin/python3 testdata/proxies/gen_proxies.py                 # every model
    /usr/bin/python3 testdata/proxies/gen_proxies.py resnet18        # only these
    /usr/bin/python3 testdata/proxies/gen_proxies.py --verify [NAME] # recompute, compare with the JSON

The weights and batch are those of the gradient fixtures in testdata/torch/NAME_train (model.onnx with
its inline small initializers, the stripped ones refilled with lcg_uniform from fixture.json), loaded
onto the PyTorch model by initializer name (= state_dict key). The definitions follow
/work/shared/PROXIES.md (the `foresight` reference code); README.md next to this file lists every
choice made. Writes testdata/proxies/NAME.json for the six fixture models, and for the deep synflow
check testdata/proxies/{resnet152,densenet201}/{model.onnx,fixture.json} (exported here, weights
stripped exactly like testdata/torch/gen_fixtures.py does).
"""

import argparse
import copy
import json
import math
import os
import sys
import time

import numpy as np
import onnx
from onnx import numpy_helper
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "testdata", "torch"))
import gen_fixtures as gf  # noqa: E402  (build_model, export, strip_and_fill, lcg_uniform, ...)

MODELS = ["nb201_a", "nb201_b", "nb201_c", "resnet18", "mobilenet_v2", "mobilenet_v3_small"]
TV = torchvision.models
DEEP = {
    "resnet152": lambda: TV.resnet152(weights=None, num_classes=gf.NUM_CLASSES),
    "densenet201": lambda: TV.densenet201(weights=None, num_classes=gf.NUM_CLASSES),
}
DEEP_SHAPE = [1, 3, 64, 64]
COUNTED = (nn.Conv2d, nn.Linear)        # the only layer types foresight scores
JACOB_K = 1e-5
LOGITS_TOL = 1e-9
VERIFY_RTOL = 1e-12
# Scaled synflow (only used when the direct float64 value overflows; always computed as a
# cross-check): input multiplied by ALPHA, backward seeded with BETA (exact powers of two).
SCALE_LOG2 = -400


def rel(path):
    return os.path.relpath(path, REPO)


# --------------------------------------------------------------------------------------------
# Weights and data, exactly as the fixture files define them
# --------------------------------------------------------------------------------------------
def load_from_files(model_dir, build):
    """Build the PyTorch model and load the weights of model_dir/model.onnx (+ LCG refill of the
    stripped initializers listed in model_dir/fixture.json), mapped by initializer name."""
    fx = json.load(open(os.path.join(model_dir, "fixture.json")))
    mp = onnx.load(os.path.join(model_dir, "model.onnx"))
    specs = {w["name"]: w for w in fx["weights"]}
    values = {}
    for init in mp.graph.initializer:
        if not gf.is_float(init):
            continue
        dims = list(init.dims)
        if init.name in specs:
            w = specs[init.name]
            values[init.name] = gf.lcg_uniform(w["seed"], gf.numel(dims), w["low"], w["high"]).reshape(dims)
        else:
            values[init.name] = numpy_helper.to_array(init).astype(np.float32)
    missing_spec = [s for s in specs if s not in values]
    if missing_spec:
        raise RuntimeError("fixture weights not in model.onnx: %s" % missing_spec[:5])
    model = build()
    sd = model.state_dict()
    unmatched = [n for n in values if n not in sd]
    if unmatched:
        raise RuntimeError("initializers that are not state_dict keys: %s" % unmatched[:8])
    mapping = {n: n for n in values}
    gf.load_values(model, values, mapping)
    float_keys = {k for k, t in sd.items() if t.dtype.is_floating_point}
    not_loaded = sorted(float_keys - set(mapping))
    if not_loaded:
        raise RuntimeError("state_dict float entries not loaded from ONNX: %s" % not_loaded[:8])
    shape = fx["input"]["shape"]
    x = gf.lcg_uniform(fx["input"]["seed"], int(np.prod(shape)), fx["input"]["low"],
                       fx["input"]["high"]).reshape(shape)
    return model, fx, torch.from_numpy(x).double(), torch.tensor(fx["labels"], dtype=torch.int64)


def fresh(model):
    """A float64, train-mode deep copy: every proxy starts from one (BN running stats never leak)."""
    m = copy.deepcopy(model).double()
    swap_hard_activations(m)
    m.train()
    m.zero_grad(set_to_none=True)
    return m


def counted_layers(m):
    """[(weight name, module)] of the scored layers, in module order."""
    return [(n + ".weight", mod) for n, mod in m.named_modules() if isinstance(mod, COUNTED)]


def layer_dict(arrays):
    """{name: per-layer array} -> ({name: layer score}, total); total = plain sum in layer order."""
    layers = {k: float(torch.sum(a).item()) for k, a in arrays.items()}
    return layers, float(sum(layers.values()))


def weight_grad(mod):
    return mod.weight.grad if mod.weight.grad is not None else torch.zeros_like(mod.weight)


def backward_loss(m, x, y):
    logits = m(x)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    return logits, loss


# --------------------------------------------------------------------------------------------
# Proxies
# --------------------------------------------------------------------------------------------
def p_gradients(model, x, y):
    """grad_norm, snip, plain share one backward pass, each from its own fresh copy anyway."""
    out = {}
    for name, f in (("grad_norm", lambda w, g: g.norm()),
                    ("snip", lambda w, g: (g * w).abs()),
                    ("plain", lambda w, g: g * w)):
        m = fresh(model)
        backward_loss(m, x, y)
        arrays = {k: f(mod.weight.detach(), weight_grad(mod).detach()) for k, mod in counted_layers(m)}
        layers, total = layer_dict(arrays)
        out[name] = {"score": total, "layers": layers}
    return out


class Hardsigmoid2(nn.Module):
    """relu6(x + 3) / 6: the same float64 forward as nn.Hardsigmoid (same kernel arithmetic),
    but twice differentiable in torch 1.13 (aten::hardsigmoid_backward has no derivative), and
    with the exact derivative 1/6 (torch 1.13's hardsigmoid_backward multiplies by the float32
    constant 1.0f/6.0f even in float64: 0.1666666716337204)."""
    def forward(self, x):
        return F.relu6(x + 3.0) / 6.0


class Hardswish2(nn.Module):
    """x * relu6(x + 3) / 6, as nn.Hardswish but twice differentiable in torch 1.13."""
    def forward(self, x):
        return x * F.relu6(x + 3.0) / 6.0


def swap_hard_activations(m):
    """Replace nn.Hardsigmoid / nn.Hardswish modules in place; returns how many."""
    n = 0
    for parent in list(m.modules()):
        for cname, child in list(parent.named_children()):
            if type(child) is nn.Hardsigmoid:
                setattr(parent, cname, Hardsigmoid2())
                n += 1
            elif type(child) is nn.Hardswish:
                setattr(parent, cname, Hardswish2())
                n += 1
    return n


def p_grasp(model, x, y):
    m = fresh(model)
    L = counted_layers(m)
    weights = [mod.weight for _, mod in L]
    loss = F.cross_entropy(m(x), y)
    g = torch.autograd.grad(loss, weights, allow_unused=True)
    g = [None if gi is None else gi.detach() for gi in g]
    m.zero_grad(set_to_none=True)
    loss = F.cross_entropy(m(x), y)
    gf_ = torch.autograd.grad(loss, weights, create_graph=True, allow_unused=True)
    z = 0
    for gi, fi in zip(g, gf_):
        if gi is not None and fi is not None:
            z = z + (gi * fi).sum()
    z.backward()
    arrays = {k: -mod.weight.detach() * weight_grad(mod).detach() for k, mod in L}
    layers, total = layer_dict(arrays)
    return {"score": total, "layers": layers}


def p_fisher(model, x, y):
    m = fresh(model)
    L = counted_layers(m)
    fisher = {}
    calls = {}
    handles = []

    def make_hook(key):
        def fwd(mod, inp, out):
            act = out.detach().clone()
            calls[key] = calls.get(key, 0) + 1

            def on_grad(g):
                g = g.detach()
                if act.dim() > 2:
                    g_nk = torch.sum(act * g, dim=tuple(range(2, act.dim())))
                else:
                    g_nk = act * g
                del_k = g_nk.pow(2).mean(0).mul(0.5)
                fisher[key] = del_k if key not in fisher else fisher[key] + del_k
            out.register_hook(on_grad)
            # Hand a copy downstream: an inplace activation (Hardswish(inplace=True) after a
            # Linear, ...) then cannot change `out`, whose hook must see dL/d(layer output).
            return out.clone()
        return fwd

    for key, mod in L:
        handles.append(mod.register_forward_hook(make_hook(key)))
    backward_loss(m, x, y)
    for h in handles:
        h.remove()
    arrays = {}
    for key, mod in L:
        ch = fisher.get(key)
        if ch is None:
            ch = torch.zeros(mod.weight.shape[0], dtype=torch.float64)
        ch = torch.abs(ch)
        # broadcast the channel value to every weight of the channel (foresight reshape_elements)
        arrays[key] = ch.reshape([-1] + [1] * (mod.weight.dim() - 1)).expand_as(mod.weight)
    layers, total = layer_dict(arrays)
    return {"score": total, "layers": layers}


def p_jacob_cov(model, x):
    m = fresh(model)
    xx = x.clone().requires_grad_(True)
    out = m(xx)
    out.backward(torch.ones_like(out))
    J = xx.grad.detach().reshape(x.shape[0], -1).numpy()
    C = np.corrcoef(J)
    v = np.linalg.eigvalsh(C)
    score = -np.sum(np.log(v + JACOB_K) + 1.0 / (v + JACOB_K))
    return {"score": float(score), "eigenvalues": [float(e) for e in v]}


def replace_bn(m):
    """Every BatchNorm module -> nn.Identity, in place. Returns how many were replaced."""
    n = 0
    for parent in list(m.modules()):
        for cname, child in list(parent.named_children()):
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                setattr(parent, cname, nn.Identity())
                n += 1
    return n


NONHOMOGENEOUS = (nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid, nn.SiLU, nn.Sigmoid, nn.GELU, nn.Tanh,
                  nn.ELU, nn.LeakyReLU, nn.Softplus, Hardsigmoid2, Hardswish2)   # Hardtanh covers ReLU6


def synflow_not_homogeneous(model):
    """'' when the BN-free, all-positive network is degree-1 homogeneous in its input up to the
    classifier bias (the last counted layer in module order); otherwise the reason."""
    L = counted_layers(model)
    biased = [k for k, mod in L[:-1] if mod.bias is not None]
    acts = sorted({type(mm).__name__ for mm in model.modules() if isinstance(mm, NONHOMOGENEOUS)})
    why = []
    if acts:
        why.append("non-homogeneous activations %s" % acts)
    if biased:
        why.append("%d biased layers before the classifier" % len(biased))
    return "; ".join(why)


def _log10(v):
    return math.log10(v) if (v > 0 and math.isfinite(v)) else None


def synflow_pass(model, shape, bn, log2_alpha=0, log2_beta=0):
    """One synflow pass. Input = ALPHA * ones([1, C, H, W]), backward seeded with BETA.
    Returns (R, {layer: per-weight array}, bn modules removed)."""
    m = copy.deepcopy(model).double()
    swap_hard_activations(m)
    removed = 0 if bn else replace_bn(m)
    with torch.no_grad():
        for p in m.parameters():
            p.abs_()
    m.train()
    m.zero_grad(set_to_none=True)
    xin = torch.ones([1] + list(shape[1:]), dtype=torch.float64) * (2.0 ** log2_alpha)
    out = m(xin)
    R = torch.sum(out)
    out.backward(torch.full_like(out, 2.0 ** log2_beta))
    arrays = {k: torch.abs(mod.weight.detach() * weight_grad(mod).detach()) for k, mod in counted_layers(m)}
    return float(R.item()), arrays, removed


def p_synflow(model, shape, bn):
    R, arrays, removed = synflow_pass(model, shape, bn)
    layers, total = layer_dict(arrays)
    res = {"score": total, "log10": _log10(total), "layers": layers,
           "layers_log10": {k: _log10(v) for k, v in layers.items()},
           "R": R, "bn_removed": removed, "method": "direct float64"}
    finite = all(math.isfinite(v) for v in list(layers.values()) + [total])
    if bn:
        if not finite:
            res["method"] = "direct float64 (OVERFLOW: no scaled method for synflow_bn)"
        return res
    # Scaled pass. With BatchNormalization removed and every weight >= 0, a network whose only
    # nonlinearities are ReLU and pooling and whose only bias is the classifier's is positively
    # homogeneous of degree 1 in its input up to that bias, so every weight's W * dR/dW scales
    # exactly with ALPHA * BETA. Not valid (and not recorded) for other networks.
    why = synflow_not_homogeneous(model)
    if why:
        if not finite:
            raise RuntimeError("synflow overflows float64 and the scaled method does not apply: " + why)
        res["scaled_check"] = None
        res["scaled_check_skipped"] = why
        return res
    a = b = SCALE_LOG2 // 2
    _, sarr, _ = synflow_pass(model, shape, bn, a, b)
    slayers = {}
    for k, arr in sarr.items():
        s = float(torch.sum(arr).item())
        slayers[k] = (math.log10(s) - (a + b) * math.log10(2.0)) if s > 0 else None
    stot_lin = sum(float(torch.sum(arr).item()) for arr in sarr.values())
    stot = math.log10(stot_lin) - (a + b) * math.log10(2.0) if stot_lin > 0 else None
    res["scaled_check"] = {"log2_alpha": a, "log2_beta": b, "log10": stot, "layers_log10": slayers}
    if not finite:
        res["method"] = ("scaled: input x 2^%d, backward seed 2^%d; value = scaled / 2^%d "
                         "(direct float64 overflowed)" % (a, b, a + b))
        res["log10"] = stot
        res["layers_log10"] = slayers
        res["score"] = None
        res["layers"] = {k: None for k in layers}
    return res


def p_params(model):
    total = sum(p.numel() for p in model.parameters() if p.requires_grad)
    layer = sum(mod.weight.numel() for _, mod in counted_layers(model))
    return {"score": int(total), "layer_params": int(layer)}


def p_flops(model, x):
    """MACs of one sample's forward, counted layers only: per-sample output elements x
    prod(weight.shape[1:]) (conv: Cout*Hout*Wout*(Cin/groups)*kh*kw; linear: out*in)."""
    m = fresh(model)
    macs = {}
    handles = []
    for key, mod in counted_layers(m):
        def hook(mod, inp, out, key=key):
            per_sample = out.numel() // out.shape[0]
            macs[key] = macs.get(key, 0) + per_sample * int(np.prod(mod.weight.shape[1:]))
        handles.append(mod.register_forward_hook(hook))
    with torch.no_grad():
        m(x)
    for h in handles:
        h.remove()
    layers = {k: int(macs.get(k, 0)) for k, _ in counted_layers(m)}
    return {"score": int(sum(layers.values())), "layers": layers}


def p_l2_norm(model):
    m = fresh(model)
    arrays = {k: mod.weight.detach().norm() for k, mod in counted_layers(m)}
    layers, total = layer_dict(arrays)
    return {"score": total, "layers": layers}


def p_nwot(model, x, act_type):
    """NASWOT on the INPUT of every act_type module call (forward pre-hook: the torchvision
    ReLUs are inplace)."""
    m = fresh(model)
    N = x.shape[0]
    K = torch.zeros(N, N, dtype=torch.float64)
    state = {"calls": 0, "units": 0}
    mods = [(n, mod) for n, mod in m.named_modules() if type(mod) is act_type]
    handles = []

    def pre(mod, inp):
        a = inp[0].detach().reshape(N, -1)
        c = (a > 0).double()
        K.add_(c @ c.t() + (1.0 - c) @ (1.0 - c).t())
        state["calls"] += 1
        state["units"] += a.shape[1]

    for _, mod in mods:
        handles.append(mod.register_forward_pre_hook(pre))
    with torch.no_grad():
        m(x)
    for h in handles:
        h.remove()
    if not mods:
        return {"score": None, "relus": 0, "calls": 0}
    sign, logdet = np.linalg.slogdet(K.numpy())
    return {"score": float(logdet), "sign": float(sign), "relus": len(mods), "calls": state["calls"],
            "units": state["units"], "modules": [n for n, _ in mods]}


# --------------------------------------------------------------------------------------------
def compute(name):
    d = os.path.join(REPO, "testdata", "torch", name + "_train")
    model, fx, x, y = load_from_files(d, lambda: gf.build_model(name))
    m = fresh(model)
    with torch.no_grad():
        logits = m(x).numpy()
    diff = float(np.max(np.abs(logits - np.array(fx["reference"]["logits"]))))
    if not diff < LOGITS_TOL:
        raise RuntimeError("%s: float64 logits differ from fixture reference by %.3g" % (name, diff))
    shape = fx["input"]["shape"]
    t = {}
    proxies = {}
    t0 = time.time()
    proxies.update(p_gradients(model, x, y)); t["grad"] = time.time() - t0; t0 = time.time()
    proxies["grasp"] = p_grasp(model, x, y); t["grasp"] = time.time() - t0; t0 = time.time()
    proxies["fisher"] = p_fisher(model, x, y); t["fisher"] = time.time() - t0; t0 = time.time()
    proxies["l2_norm"] = p_l2_norm(model)
    proxies["flops"] = p_flops(model, x)
    proxies["synflow"] = p_synflow(model, shape, bn=False)
    proxies["synflow_bn"] = p_synflow(model, shape, bn=True); t["synflow"] = time.time() - t0; t0 = time.time()
    proxies["jacob_cov"] = p_jacob_cov(model, x)
    nw = p_nwot(model, x, nn.ReLU)
    if nw["score"] is None:
        nw["note"] = "no nn.ReLU module in this model (its activations are nn.ReLU6); see nwot_relu6"
    proxies["nwot"] = nw
    if any(type(mm) is nn.ReLU6 for mm in model.modules()):
        proxies["nwot_relu6"] = p_nwot(model, x, nn.ReLU6)
    proxies["params"] = p_params(model)
    t["rest"] = time.time() - t0
    notes = []
    n_hard = sum(1 for mm in model.modules() if type(mm) in (nn.Hardsigmoid, nn.Hardswish))
    if n_hard:
        notes.append("%d nn.Hardsigmoid/nn.Hardswish modules are computed as relu6(x+3)/6 and "
                     "x*relu6(x+3)/6 (bitwise-identical forward; exact, twice-differentiable "
                     "backward)" % n_hard)
    out = {"model": name, "fixture": rel(d), "input_shape": shape, "labels": fx["labels"],
           "notes": notes,
           "logits_max_abs_diff_vs_fixture": diff, "proxies": proxies,
           "layer_order": [k for k, _ in counted_layers(model)]}
    return out, t


def build_deep(name):
    torch.manual_seed(0)
    model = DEEP[name]()
    gf.disable_randomness(model)
    return model


def export_deep(name):
    """Export (train mode, like gen_fixtures), strip, write model.onnx + fixture.json."""
    out_dir = os.path.join(HERE, name)
    os.makedirs(out_dir, exist_ok=True)
    x = gf.make_input(DEEP_SHAPE)
    model = build_deep(name)
    mp, opset, errors = gf.export(model, x, "train")
    specs, _, values = gf.strip_and_fill(mp)
    consts = gf.big_constants(mp)
    if consts:
        raise RuntimeError("%s: big Constant nodes %s" % (name, consts[:5]))
    onnx.save_model(mp, os.path.join(out_dir, "model.onnx"))
    fixture = {"name": name, "mode": "train", "opset": opset, "num_classes": gf.NUM_CLASSES,
               "input": {"name": "input", "shape": DEEP_SHAPE, "seed": gf.INPUT_SEED,
                         "low": gf.INPUT_LOW, "high": gf.INPUT_HIGH},
               "labels": gf.make_labels(DEEP_SHAPE[0]), "weights": specs}
    return out_dir, fixture, errors


def compute_deep(name):
    d = os.path.join(HERE, name)
    model, fx, _, _ = load_from_files(d, lambda: build_deep(name))
    shape = fx["input"]["shape"]
    res = {"synflow_input": "ones", "synflow_input_shape": [1] + list(shape[1:]),
           "synflow": p_synflow(model, shape, bn=False),
           "synflow_bn": p_synflow(model, shape, bn=True),
           "layer_order": [k for k, _ in counted_layers(model)]}
    return res


# --------------------------------------------------------------------------------------------
def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1, allow_nan=False)
        f.write("\n")


def compare(a, b, path, errs):
    """Recursive comparison, floats to a relative 1e-12."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            errs.append("%s: keys differ: %s" % (path, sorted(set(a) ^ set(b))[:5]))
        for k in a:
            if k in b:
                compare(a[k], b[k], path + "." + k, errs)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            errs.append("%s: length %d vs %d" % (path, len(a), len(b)))
        for i, (u, v) in enumerate(zip(a, b)):
            compare(u, v, "%s[%d]" % (path, i), errs)
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        if path.endswith("logits_max_abs_diff_vs_fixture"):
            return
        if not abs(a - b) <= VERIFY_RTOL * max(1.0, abs(a), abs(b)):
            errs.append("%s: %r vs %r" % (path, a, b))
    elif a != b:
        errs.append("%s: %r vs %r" % (path, a, b))


SUMMARY_KEYS = ["grad_norm", "snip", "grasp", "fisher", "plain", "jacob_cov", "synflow", "synflow_bn",
                "nwot", "params", "flops", "l2_norm"]


def summary(results, deep):
    print()
    print("%-19s" % "model" + "".join("%14s" % k for k in SUMMARY_KEYS))
    for name, r in results.items():
        p = r["proxies"]
        row = []
        for k in SUMMARY_KEYS:
            v = p[k]["score"]
            if k == "nwot" and v is None and "nwot_relu6" in p:
                row.append("%14s" % ("r6:%.6g" % p["nwot_relu6"]["score"]))
            elif v is None:
                row.append("%14s" % "null")
            elif k in ("synflow", "synflow_bn"):
                row.append("%14s" % ("1e%.4f" % p[k]["log10"]))
            elif isinstance(v, int):
                row.append("%14d" % v)
            else:
                row.append("%14.6g" % v)
        print("%-19s" % name + "".join(row))
    for name, r in deep.items():
        s, sb = r["synflow"], r["synflow_bn"]
        print("%-19s synflow %.10g = 1e%.6f (%s; scaled check 1e%.6f)  synflow_bn log10 %s" %
              (name, s["score"], s["log10"], s["method"], s["scaled_check"]["log10"],
               "%.6f" % sb["log10"] if sb["log10"] is not None else "null"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*", help="default: all of " + " ".join(MODELS + list(DEEP)))
    ap.add_argument("--verify", action="store_true", help="recompute and compare with the written JSON")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: all cores)")
    args = ap.parse_args()
    names = args.models or MODELS + list(DEEP)
    for n in names:
        if n not in MODELS and n not in DEEP:
            ap.error("unknown model %r" % n)
    torch.set_num_threads(args.threads or max(1, os.cpu_count() or 1))
    results, deep, errs = {}, {}, []
    for n in names:
        t0 = time.time()
        if n in MODELS:
            r, t = compute(n)
            results[n] = r
            path = os.path.join(HERE, n + ".json")
            if args.verify:
                e = []
                compare(r, json.load(open(path)), n, e)
                errs += e
                print("%-19s %s  (%.1fs)" % (n, "OK" if not e else "%d MISMATCHES" % len(e), time.time() - t0))
            else:
                write_json(path, r)
                print("%-19s wrote %s  (%.1fs: %s)" % (n, rel(path), time.time() - t0,
                                                     " ".join("%s %.1f" % kv for kv in t.items())))
        else:
            fpath = os.path.join(HERE, n, "fixture.json")
            if args.verify:
                r = compute_deep(n)
                deep[n] = r
                e = []
                fxj = json.load(open(fpath))
                compare(r, {k: fxj.get(k) for k in r}, n, e)
                errs += e
                print("%-19s %s  (%.1fs)" % (n, "OK" if not e else "%d MISMATCHES" % len(e), time.time() - t0))
            else:
                out_dir, fixture, notes = export_deep(n)
                write_json(fpath, fixture)          # weights first: compute_deep reads the files
                r = compute_deep(n)
                deep[n] = r
                fixture.update(r)
                with open(fpath, "w") as f:
                    json.dump(fixture, f, separators=(",", ":"), allow_nan=False)
                    f.write("\n")
                print("%-19s wrote %s (%.0f KB) + fixture.json  (%.1fs)%s" %
                      (n, rel(os.path.join(out_dir, "model.onnx")),
                       os.path.getsize(os.path.join(out_dir, "model.onnx")) / 1024, time.time() - t0,
                       "" if not notes else "  notes: %s" % notes))
    summary(results, deep)
    if args.verify:
        for e in errs[:40]:
            print("MISMATCH", e)
        print("verify:", "OK" if not errs else "FAILED (%d)" % len(errs))
        sys.exit(1 if errs else 0)


if __name__ == "__main__":
    main()
