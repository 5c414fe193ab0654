#!/usr/bin/env python3
"""synflow and synflow_bn (float64 PyTorch, gen_proxies.p_synflow) of the efficientnet_b0 (SiLU and
sigmoid gates: synflow needs true activations near 1e30) and convnext_tiny (GELU, LayerNorm) train
fixtures of testdata/torch, on one all-ones 3x64x64 sample. Writes testdata/proxies/synflow_extra.json.

    /usr/bin/python3 testdata/proxies/gen_synflow_extra.py
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "torch"))
sys.path.insert(0, HERE)
import gen_fixtures as gf  # noqa: E402
import gen_proxies as P  # noqa: E402

out = {}
for name in ("efficientnet_b0", "convnext_tiny"):
    model, fx, x, y = P.load_from_files(os.path.join(HERE, "..", "torch", "%s_train" % name), lambda: gf.build_model(name))
    out[name] = {"synflow": P.p_synflow(model, [1, 3, 64, 64], False)["log10"],
                 "synflow_bn": P.p_synflow(model, [1, 3, 64, 64], True)["log10"]}
with open(os.path.join(HERE, "synflow_extra.json"), "w") as f:
    json.dump(out, f, indent=1)
print(json.dumps(out))
