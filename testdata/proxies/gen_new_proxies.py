#!/usr/bin/python3
"""Independent PyTorch float64 references of the proxies published after the paper (PROXIES.md's
"State-of-the-art training-free proxies"), on the same fixture networks, weights and batch as
gen_proxies.py (which it imports for loading them).

    /usr/bin/python3 testdata/proxies/gen_new_proxies.py            # write testdata/proxies/new/NAME.json
    /usr/bin/python3 testdata/proxies/gen_new_proxies.py --verify   # recompute, compare with the files

Each proxy is written from its definition (README.md next to this file lists the choices):

* zico: the batch split into two halves, zero_grad, cross-entropy backward per half; per weight
  element of every nn.Conv2d / nn.Linear: mean |g| / np.std(g) over the halves (elements with std 0
  left out); layer = log(sum) (0 when the sum is 0); model = sum over layers.
* meco: forward on the first sample; for every nn.Conv2d / nn.Linear output (C x ...), the smallest
  real eigenvalue of torch.corrcoef of its C channels (NaN/Inf set to 0); model = sum over layers.
* meco_opt: as meco on 8 channels per layer drawn by sample_indices(seed + layer index, C, 8), x C/8.
* gradsign: one cross-entropy backward per sample (x[[i]], a batch of one, train mode); for every
  weight of every nn.Conv2d / nn.Linear |sum_i sign(g_i)|, a gradient below 1e-9 of the sample's
  largest weight gradient counting as 0; layer = sum over its weights; model = sum.
* epe_nas: x.grad of sum(logits) per sample (N x D), rows grouped by label (labels i % 2, so that
  every class has several samples); per class s_c = sum(log(|np.corrcoef(rows)| + 1e-5)) (one row:
  log(1 + 1e-5)); score = sum_c |s_c| (10 classes <= 100).
* layers: len(list(model.parameters())).

--only NAME[,NAME] recomputes those proxies and keeps the others of the existing files.
"""

import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_proxies as gp  # noqa: E402

MODELS = ["nb201_a", "nb201_b", "nb201_c", "resnet18", "mobilenet_v2", "mobilenet_v3_small"]
OUT = os.path.join(HERE, "new")
MASK = (1 << 64) - 1


def splitmix(seed, i):
    z = (seed + i * 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def sample_indices(seed, n, k):
    """k of range(n) without replacement: partial Fisher-Yates, swap j with j + z_j mod (n - j)."""
    idx = list(range(n))
    if n <= k:
        return idx
    for j in range(k):
        r = j + splitmix(seed, j + 1) % (n - j)
        idx[j], idx[r] = idx[r], idx[j]
    return idx[:k]


def p_zico(model, x, y):
    m = gp.fresh(model)
    L = gp.counted_layers(m)
    n = x.shape[0] // 2
    grads = {k: [] for k, _ in L}
    for xs, ys in ((x[:n], y[:n]), (x[n:2 * n], y[n:2 * n])):
        m.zero_grad(set_to_none=True)
        F.cross_entropy(m(xs), ys).backward()
        for k, mod in L:
            grads[k].append(gp.weight_grad(mod).detach().reshape(-1).numpy().copy())
    layers = {}
    for k, g in grads.items():
        g = np.array(g)
        std = np.std(g, axis=0)
        mean_abs = np.mean(np.abs(g), axis=0)
        nz = np.nonzero(std)[0]
        s = float(np.sum(mean_abs[nz] / std[nz]))
        layers[k] = float(np.log(s)) if s != 0 else 0.0
    return {"score": float(sum(layers.values())), "layers": layers}


def p_meco(model, x, opt=False, seed=0):
    m = gp.fresh(model)
    layers = {}
    hooks = []
    for idx, (k, mod) in enumerate(gp.counted_layers(m)):
        def hook(mod, inp, out, k=k, idx=idx):
            fea = out[0].detach()
            c = fea.shape[0]
            fea = fea.reshape(c, -1)
            factor = 1.0
            if opt and c > 8:
                fea = fea[sample_indices(seed + idx, c, 8), :]
                factor = c / 8
            corr = torch.corrcoef(fea)
            corr[torch.isnan(corr)] = 0
            corr[torch.isinf(corr)] = 0
            values = torch.linalg.eig(corr)[0]
            layers[k] = layers.get(k, 0.0) + float(torch.min(torch.real(values))) * factor
        hooks.append(mod.register_forward_hook(hook))
    with torch.no_grad():
        m(x[0:1])
    for h in hooks:
        h.remove()
    return {"score": float(sum(layers.values())), "layers": layers}


def p_gradsign(model, x, y):
    m = gp.fresh(model)
    L = gp.counted_layers(m)
    codes = {k: 0 for k, _ in L}
    for i in range(x.shape[0]):
        m.zero_grad(set_to_none=True)
        F.cross_entropy(m(x[[i]]), y[[i]]).backward()
        grads = {k: gp.weight_grad(mod).detach() for k, mod in L}
        tiny = 1e-9 * max(float(g.abs().max()) for g in grads.values())
        for k, g in grads.items():
            codes[k] = codes[k] + torch.sign(g) * (g.abs() > tiny)
    layers = {k: float(torch.sum(torch.abs(c))) for k, c in codes.items()}
    return {"score": float(sum(layers.values())), "layers": layers}


EPE_LABELS = "i % 2"


def p_epe_nas(model, x):
    m = gp.fresh(model)
    xx = x.clone().requires_grad_(True)
    y = m(xx)
    y.backward(torch.ones_like(y))
    jac = xx.grad.detach().reshape(x.shape[0], -1).numpy()
    per = {}
    for i in range(x.shape[0]):
        per.setdefault(i % 2, []).append(jac[i])
    score = 0.0
    for c, rows in per.items():
        if len(rows) == 1:
            s = float(np.log(1 + 1e-5))
        else:
            s = float(np.sum(np.log(np.abs(np.corrcoef(np.array(rows))) + 1e-5)))
        score += abs(s)
    return {"score": score, "labels": EPE_LABELS}


PROXIES = {
    "zico": lambda model, x, y: p_zico(model, x, y),
    "meco": lambda model, x, y: p_meco(model, x),
    "meco_opt": lambda model, x, y: p_meco(model, x, opt=True, seed=0),
    "gradsign": lambda model, x, y: p_gradsign(model, x, y),
    "epe_nas": lambda model, x, y: p_epe_nas(model, x),
    "layers": lambda model, x, y: {"score": len(list(model.parameters()))},
}


def compute(name, only=None, old=None):
    d = os.path.join(gp.REPO, "testdata", "torch", name + "_train")
    model, fx, x, y = gp.load_from_files(d, lambda: gp.gf.build_model(name))
    proxies = dict(old["proxies"]) if old else {}
    for k, f in PROXIES.items():
        if only is None or k in only:
            proxies[k] = f(model, x, y)
    return {
        "model": name,
        "input_shape": list(x.shape),
        "layer_order": [k for k, _ in gp.counted_layers(model)],
        "proxies": {k: proxies[k] for k in PROXIES if k in proxies},
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*")
    ap.add_argument("--verify", action="store_true")
    ap.add_argument("--only", default="", help="comma-separated proxies to recompute")
    args = ap.parse_args()
    only = set(args.only.split(",")) if args.only else None
    torch.set_num_threads(2)
    os.makedirs(OUT, exist_ok=True)
    errs = []
    for n in args.models or MODELS:
        path = os.path.join(OUT, n + ".json")
        old = json.load(open(path)) if only and os.path.exists(path) else None
        r = compute(n, only, old)
        if args.verify:
            e = []
            gp.compare(r, json.load(open(path)), n, e)
            errs += e
            print("%-19s %s" % (n, "OK" if not e else "%d MISMATCHES" % len(e)))
        else:
            gp.write_json(path, r)
        print("%-19s %s" % (n, "  ".join("%s %.6g" % (k, v["score"]) for k, v in r["proxies"].items())))
    for e in errs[:20]:
        print("MISMATCH", e)
    sys.exit(1 if errs else 0)


if __name__ == "__main__":
    main()
