#!/usr/bin/python3
"""Independent PyTorch float64 reference of VKDNW (Tybl & Neumann, CVPR 2025), on the fixture
networks, weights and batch of gen_proxies.py (imported for loading them).

    /usr/bin/python3 testdata/proxies/gen_vkdnw.py            # write testdata/proxies/vkdnw/NAME.json
    /usr/bin/python3 testdata/proxies/gen_vkdnw.py --verify   # recompute, compare with the files

Written from the definition (PROXIES.md and the NAS-Bench-201 script of ondratybl/VKDNW):
* the model in eval mode (BatchNorm on its running statistics), float64, the fixture's weights, on a
  batch of 24 drawn with the fixtures' generator (see BATCH below);
* J_b: the Jacobian of the logits of sample b w.r.t. element 0 of every parameter tensor
  (model.parameters(), one forward per sample and one torch.autograd.grad per logit);
* the smoothed softmax p = softmax(z)(1 - a) + a/K, a = float16(0.05); the lower-triangular factor
  L built as the script does (-p_i/q_j outer product, -inf -> 0, diagonal 1, upper 0, columns x d);
* F = mean_b (L_b J_b)^T (L_b J_b); lambdas = singular values of F; the 9 deciles
  (torch.quantile at 0.1..0.9), t = q / (sum|q| + 1e-10), H = -sum t log(t + 1e-10);
* vkdnw = len(list(model.parameters())) + H; vkdnw_entropy = H.
"""

import argparse
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_proxies as gp  # noqa: E402

MODELS = ["nb201_a", "nb201_b", "nb201_c", "resnet18", "mobilenet_v2", "mobilenet_v3_small"]
OUT = os.path.join(HERE, "vkdnw")
ALPHA = float(np.float16(0.05))


def factor(z):
    k = z.shape[0]
    p = torch.softmax(z, dim=0) * (1 - ALPHA) + ALPHA / k
    q = 1 - torch.cumsum(p, dim=0)
    q[-1] = 0
    q_shift = torch.roll(q, 1)
    q_shift[0] = 1
    d = torch.sqrt(p * q / q_shift)
    with np.errstate(divide="ignore", invalid="ignore"):
        L = -torch.outer(p, 1 / q)
    L = torch.nan_to_num(L, neginf=0.0)
    L = L * (1 - torch.eye(k, dtype=z.dtype)) + torch.eye(k, dtype=z.dtype)
    L = torch.tril(L)
    return L @ torch.diag(d)


def p_vkdnw(model, x):
    m = gp.fresh(model)
    m.eval()
    params = list(m.parameters())
    n = x.shape[0]
    fisher = torch.zeros(len(params), len(params), dtype=torch.float64)
    for b in range(n):
        logits = m(x[b:b + 1])  # eval mode: a sample alone gives its row of the batch's logits
        k = logits.shape[1]
        J = torch.zeros(k, len(params), dtype=torch.float64)
        for c in range(k):
            grads = torch.autograd.grad(logits[0, c], params, retain_graph=True, allow_unused=True)
            for j, g in enumerate(grads):
                J[c, j] = 0.0 if g is None else g.reshape(-1)[0]
        A = factor(logits[0].detach()) @ J
        fisher += A.T @ A / n
    lambdas = torch.linalg.svdvals(fisher)
    q = torch.quantile(lambdas, torch.arange(1, 10, dtype=torch.float64) / 10)
    t = q / (torch.sum(torch.abs(q)) + 1e-10)
    h = float(-(t * torch.log(t + 1e-10)).sum())
    return {"vkdnw": {"score": len(params) + h}, "vkdnw_entropy": {"score": h},
            "parameters": len(params), "lambda_max": float(lambdas.max())}


# The fixture batch (4 samples) gives a Fisher information of rank at most 4 K, below the number of
# parameter tensors, so that most deciles would be round-off: the reference uses a batch of 24 drawn
# with the fixtures' generator instead (seed BATCH_SEED, uniform in [-2, 2)).
BATCH, BATCH_SEED = 24, 11


def compute(name):
    d = os.path.join(gp.REPO, "testdata", "torch", name + "_train")
    model, fx, x, y = gp.load_from_files(d, lambda: gp.gf.build_model(name))
    shape = [BATCH] + list(x.shape[1:])
    x = torch.from_numpy(gp.gf.lcg_uniform(BATCH_SEED, int(np.prod(shape)), -2.0, 2.0).reshape(shape)).double()
    r = p_vkdnw(model, x)
    return {"model": name, "input_shape": shape, "input_seed": BATCH_SEED, "proxies": {k: r[k] for k in ("vkdnw", "vkdnw_entropy")},
            "parameters": r["parameters"], "lambda_max": r["lambda_max"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*")
    ap.add_argument("--verify", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    errs = []
    for n in args.models or MODELS:
        path = os.path.join(OUT, n + ".json")
        r = compute(n)
        if args.verify:
            e = []
            gp.compare(r, json.load(open(path)), n, e)
            errs += e
            print("%-19s %s" % (n, "OK" if not e else "%d MISMATCHES" % len(e)))
        else:
            gp.write_json(path, r)
        print("%-19s vkdnw %.8g  H %.8g  P %d" % (n, r["proxies"]["vkdnw"]["score"], r["proxies"]["vkdnw_entropy"]["score"], r["parameters"]))
    for e in errs[:20]:
        print("MISMATCH", e)
    sys.exit(1 if errs else 0)


if __name__ == "__main__":
    main()
