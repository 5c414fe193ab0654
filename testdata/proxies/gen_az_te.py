#!/usr/bin/python3
"""Independent PyTorch float64 references of AZ-NAS's components (az_expressivity, az_progressivity,
az_trainability) and TE-NAS's NTK condition number (ntk_cond), on the weights and batch of the
gradient fixtures (gen_proxies.py loads them), written from /work/shared/PROXIES.md and the authors'
code as described there.

    /usr/bin/python3 testdata/proxies/gen_az_te.py            # write testdata/proxies/az_te/NAME.json
    /usr/bin/python3 testdata/proxies/gen_az_te.py --verify   # recompute, compare with the files

Definitions (float64, model.train(): BN on batch statistics; the fixture's own weights; the AZ-NAS
components on the N(0,1) batch of 64 that zerocost generates with seed 0 (normal_input), ntk_cond on
the fixture's batch):

* features f_0..f_L: NAS-Bench-201: the stem output and the 17 cell and reduction outputs (AZ-NAS's
  extract_cell_features; the exported fixtures keep `none` edges as x*0 terms, so every cell output
  is a sum in the ONNX graph, a stage); resnet18: the output of bn1 and every BasicBlock's sum
  before its last ReLU. The forward is written out here
  (torchvision's in-place ReLU would overwrite the sums).
* az_expressivity: per f_l (B,C,H,W -> BHW x C, centred), eigenvalues s of the covariance
  X^T X / BHW, p = s / sum(s), entropy sum(-p log(p + 1e-8)); summed over l.
  az_progressivity: min_l (e_{l+1} - e_l).
* az_trainability: for each l, the cotangent c_{l+1} = +-1 (sign_cotangent(seed 0, l+1)), g_in =
  autograd.grad(f_{l+1}, f_l, c_{l+1}); g_in pixel_unshuffle'd by H_l / H_{l+1} when the resolution
  shrinks; M = g_in^T c / BHW (rows of channels); sigma = max singular value; -sigma - 1/(sigma +
  1e-6) + 2; mean over l (-inf when g_in == c: an identity block).
* ntk_cond: per sample i, the gradient of sum(logits[i]) (a forward of the whole batch, BN coupling
  included) w.r.t. every parameter whose name contains "weight" (conv, linear and BN scales), as
  TE-NAS's get_ntk_n; K = G G^T; eigvalsh; lambda_max / lambda_min.
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

MODELS = ["nb201_a", "nb201_b", "nb201_c", "resnet18"]
OUT = os.path.join(HERE, "az_te")
MASK = (1 << 64) - 1
AZ_BATCH = 64


def splitmix(seed, i):
    z = (seed + i * 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def sign_cotangent(seed, l, shape):
    """+1 where the top bit of splitmix(splitmix(seed, l), j + 1) is set, -1 elsewhere (j = 0..n-1)."""
    n = int(np.prod(shape))
    z = splitmix_array(splitmix(seed, l), np.arange(1, n + 1, dtype=np.uint64))
    v = np.where((z >> np.uint64(63)) == 1, 1.0, -1.0)
    return torch.from_numpy(v.reshape(shape))


def splitmix_array(key, j):
    """splitmix(key, j) for an array j of uint64."""
    with np.errstate(over="ignore"):
        z = np.uint64(key) + j * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def normal_input(shape, seed=0, repeat=0):
    """proxies.NormalInput: stream key splitmix(splitmix(splitmix(seed, 2), repeat + 1), 1); Box-Muller
    on pairs z1 = splitmix(key, 2k + 1), z2 = splitmix(key, 2k + 2): u1 = ((z1 >> 11) + 1) 2^-53,
    u2 = (z2 >> 11) 2^-53, values sqrt(-2 ln u1) cos(2 pi u2) and sqrt(-2 ln u1) sin(2 pi u2); float32."""
    key = splitmix(splitmix(splitmix(seed, 2), repeat + 1), 1)
    n = int(np.prod(shape))
    k = np.arange((n + 1) // 2, dtype=np.uint64)
    z1 = splitmix_array(key, np.uint64(2) * k + np.uint64(1))
    z2 = splitmix_array(key, np.uint64(2) * k + np.uint64(2))
    u1 = ((z1 >> np.uint64(11)).astype(np.float64) + 1) * 2.0 ** -53
    u2 = (z2 >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    r = np.sqrt(-2 * np.log(u1))
    v = np.empty(2 * len(k))
    v[0::2], v[1::2] = r * np.cos(2 * np.pi * u2), r * np.sin(2 * np.pi * u2)
    return torch.from_numpy(v[:n].astype(np.float32).astype(np.float64).reshape(shape))


def features(name, m, x):
    feats = []
    if name.startswith("nb201"):
        h = m.stem(x)
        feats.append(h)
        for cell in m.cells:
            h = cell(h)
            feats.append(h)
        return feats
    h = m.bn1(m.conv1(x))
    feats.append(h)
    h = m.maxpool(F.relu(h))
    for layer in (m.layer1, m.layer2, m.layer3, m.layer4):
        for b in layer:
            o = b.bn2(b.conv2(F.relu(b.bn1(b.conv1(h)))))
            s = o + (b.downsample(h) if b.downsample is not None else h)
            feats.append(s)
            h = F.relu(s)
    return feats


def rows(t):
    b, c = t.shape[0], t.shape[1]
    return t.permute(0, 2, 3, 1).reshape(-1, c)


def p_az(name, model, x, seed=0):
    m = gp.fresh(model)
    f = features(name, m, x)
    ent = []
    for t in f:
        r = rows(t.detach())
        r = r - r.mean(dim=0, keepdim=True)
        s = torch.linalg.eigvalsh(r.T @ r / r.shape[0])
        p = s / s.sum()
        ent.append(float(torch.sum(-p * torch.log(p + 1e-8))))
    scores = []
    for l in reversed(range(len(f) - 1)):
        c = sign_cotangent(seed, l + 1, tuple(f[l + 1].shape))
        g = torch.autograd.grad(f[l + 1], f[l], c, retain_graph=True)[0]
        if g.shape == c.shape and torch.equal(g, c):
            scores.append(-np.inf)
            continue
        if g.shape[2] != c.shape[2]:
            g = F.pixel_unshuffle(g, g.shape[2] // c.shape[2])
        mat = rows(g).T @ rows(c) / rows(c).shape[0]
        sigma = float(torch.linalg.svdvals(mat).max())
        scores.append(-sigma - 1 / (sigma + 1e-6) + 2)
    return {
        "stages": len(f),
        "az_expressivity": {"score": float(np.sum(ent))},
        "az_progressivity": {"score": float(np.min(np.diff(ent)))},
        "az_trainability": {"score": float(np.mean(scores))},
    }


def p_ntk(model, x):
    m = gp.fresh(model)
    params = [(n, p) for n, p in m.named_parameters() if "weight" in n]
    logits = m(x)
    rows_ = []
    for i in range(x.shape[0]):
        g = torch.autograd.grad(logits[i].sum(), [p for _, p in params], retain_graph=True, allow_unused=True)
        rows_.append(torch.cat([(gi if gi is not None else torch.zeros_like(p)).reshape(-1)
                                for gi, (_, p) in zip(g, params)]))
    G = torch.stack(rows_)
    ev = torch.linalg.eigvalsh(G @ G.T)
    return {"score": float(ev[-1] / ev[0]), "params": [n for n, _ in params]}


def compute(name):
    d = os.path.join(gp.REPO, "testdata", "torch", name + "_train")
    model, fx, x, y = gp.load_from_files(d, lambda: gp.gf.build_model(name))
    xn = normal_input((AZ_BATCH,) + tuple(x.shape[1:]))
    az = p_az(name, model, xn)
    out = {"model": name, "az_input_shape": list(xn.shape), "ntk_input_shape": list(x.shape),
           "stages": az.pop("stages"), "seed": 0,
           "proxies": az}
    out["proxies"]["ntk_cond"] = p_ntk(model, x)
    return out


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
        print("%-10s stages %d  %s" % (n, r["stages"], "  ".join("%s %.6g" % (k, v["score"]) for k, v in r["proxies"].items())))
    for e in errs[:20]:
        print("MISMATCH", e)
    sys.exit(1 if errs else 0)


if __name__ == "__main__":
    main()
