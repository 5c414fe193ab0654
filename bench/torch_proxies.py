#!/usr/bin/env python3
"""Times the PyTorch reference implementation of each proxy (testdata/proxies/gen_proxies.py) on one
network, the way the reference code runs them: every proxy separately, float32 (synflow and
synflow_bn in float64, as foresight does), 2 threads. Prints JSON {proxy: median seconds} to stdout.

    /usr/bin/python3 bench/torch_proxies.py nb201_a 64 32     # name, batch, image size
"""
import copy
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "testdata", "torch"))
sys.path.insert(0, os.path.join(HERE, "..", "testdata", "proxies"))
import gen_fixtures as G  # noqa: E402
import gen_proxies as P  # noqa: E402


def fresh32(model):
    m = copy.deepcopy(model).float()
    P.swap_hard_activations(m)
    m.train()
    m.zero_grad(set_to_none=True)
    return m


def main():
    name, batch, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    reps = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    torch.set_num_threads(2)
    torch.manual_seed(0)
    P.fresh = fresh32  # the reference scores in float32
    model = G.build_model(name)
    x = torch.randn(batch, 3, size, size)
    y = torch.randint(0, 10, (batch,))
    shape = [1, 3, size, size]
    runs = {
        "grad_norm": lambda: P.p_gradients(model, x, y),  # grad_norm, snip and plain: one backward each in foresight
        "snip": lambda: P.p_gradients(model, x, y),
        "plain": lambda: P.p_gradients(model, x, y),
        "grasp": lambda: P.p_grasp(model, x, y),
        "fisher": lambda: P.p_fisher(model, x, y),
        "jacob_cov": lambda: P.p_jacob_cov(model, x),
        "synflow": lambda: P.p_synflow(model, shape, False),
        "synflow_bn": lambda: P.p_synflow(model, shape, True),
        "nwot": lambda: P.p_nwot(model, x, torch.nn.ReLU),
    }
    out = {}
    for proxy, f in runs.items():
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            f()
            times.append(time.perf_counter() - t0)
        out[proxy] = float(np.median(times))
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
