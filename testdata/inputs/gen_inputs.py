#!/usr/bin/python3
"""Small models with several inputs, integer and boolean inputs and non-classifier heads, exported
with Debian's PyTorch, and float64 PyTorch reference values of the proxies that apply to them.

    /usr/bin/python3 testdata/inputs/gen_inputs.py     # writes NAME.onnx and NAME.json here

Every model is exported in training mode (TrainingMode.TRAINING, opset 17, no constant folding,
dynamic batch; none has BatchNormalization, Dropout has p = 0), so the ONNX graph computes exactly
the PyTorch module. The batch (every input, by name) and the labels are stored in NAME.json next to
the references, which are computed as testdata/proxies/gen_proxies.py computes them (float64,
fresh train-mode copies, F.cross_entropy with mean reduction), with two extensions:

* cross-entropy on other heads, as torch's F.cross_entropy takes them: N×C×H×W logits with N×H×W
  labels (per pixel), and N×T×V logits with N×T labels (per token, the logits transposed to N×V×T),
  both averaged over every labelled position;
* jacob_cov of a model whose input is integer token ids is taken with respect to the embedding
  output (the float tensor that nn.Embedding returns, the ONNX Gather's output), J = d(Σ outputs)/d
  embedding, flattened per sample.

Counted layers are the ONNX graph's layers (Conv, Gemm, and MatMul with a weight initializer, direct
or transposed): every nn.Conv2d and nn.Linear weight, and nn.MultiheadAttention's in_proj_weight,
which PyTorch exports as MatMul(x, Transpose(in_proj_weight)) although it is not an nn.Linear
(foresight, which hooks nn.Linear modules, would leave it out). The embedding table is not a layer.

Models (N = 4):
  textcls    ids [N, 8] int64 -> nn.Embedding(50, 16) -> nn.TransformerEncoder (1 layer, 2 heads,
             feed-forward 32, ReLU, batch_first) -> mean over tokens -> nn.Linear(16, 4)
  textmask   ids [N, 6], attention_mask [N, 6] int64 -> nn.Embedding(40, 12) -> masked mean ->
             Linear(12, 16) -> ReLU -> Linear(16, 3)
  twoinput   image [N, 3, 8, 8] and vector [N, 5] float -> conv/ReLU/pool and Linear/ReLU,
             concatenated -> Linear(12, 4) "logits", and a second output "boxes" [N, 2, 4]
  segmenter  image [N, 3, 8, 8] -> Conv(3, 8, 3) -> ReLU -> Conv(8, 5, 1): logits [N, 5, 8, 8]
  lm         ids [N, T] int64 (T dynamic, 6 here) -> nn.Embedding(30, 16) -> Linear(16, 16) -> ReLU
             -> Linear(16, 30): logits [N, T, 30]
  scalarbool x [N, 6] float, scale [] float (0-d), flip [] bool (0-d) ->
             where(flip, -y, y), y = Linear(relu(Linear(x)) * scale)
"""

import json
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "testdata", "proxies"))
import gen_proxies as gp  # noqa: E402  (fresh, write_json, JACOB_K)
import gen_fixtures as gf  # noqa: E402  (lcg_uniform; gen_proxies put testdata/torch on the path)

N = 4


class TextCls(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(50, 16)
        layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        self.fc = nn.Linear(16, 4)

    def embed(self, ids):
        return self.emb(ids)

    def head(self, e):
        return self.fc(self.enc(e).mean(1))

    def forward(self, ids):
        return self.head(self.embed(ids))


class TextMask(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(40, 12)
        self.fc1 = nn.Linear(12, 16)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, ids, attention_mask):
        e = self.emb(ids)
        m = attention_mask.unsqueeze(-1).to(e.dtype)
        pooled = (e * m).sum(1) / m.sum(1)
        return self.fc2(F.relu(self.fc1(pooled)))


class TwoInput(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.fv = nn.Linear(5, 6)
        self.fc = nn.Linear(12, 4)
        self.box = nn.Linear(12, 8)

    def forward(self, image, vector):
        a = torch.flatten(F.adaptive_avg_pool2d(F.relu(self.conv(image)), 1), 1)
        h = torch.cat([a, F.relu(self.fv(vector))], 1)
        return self.fc(h), self.box(h).reshape(-1, 2, 4)


class Segmenter(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 5, 1)

    def forward(self, image):
        return self.conv2(F.relu(self.conv1(image)))


class LM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(30, 16)
        self.fc1 = nn.Linear(16, 16)
        self.fc2 = nn.Linear(16, 30)

    def forward(self, ids):
        return self.fc2(F.relu(self.fc1(self.emb(ids))))


class ScalarBool(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 8)
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x, scale, flip):
        y = self.fc2(F.relu(self.fc1(x)) * scale)
        return torch.where(flip, -y, y)


def counted(m):
    """[(ONNX initializer name, weight)] of the layers zerocost scores (see the module doc)."""
    out = []
    for name, mod in m.named_modules():
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            out.append((name + ".weight", mod.weight))
        if isinstance(mod, nn.MultiheadAttention):
            out.append((name + ".in_proj_weight", mod.in_proj_weight))
    return out


def ce(logits, labels):
    """torch's cross-entropy with the class axis where each head has it."""
    if logits.dim() == 3:  # N×T×V per token
        return F.cross_entropy(logits.transpose(1, 2), labels)
    return F.cross_entropy(logits, labels)  # N×C or N×C×H×W


def first(out):
    return out[0] if isinstance(out, tuple) else out


def gradients(model, feeds, labels):
    """grad_norm, snip and plain from one backward of the cross-entropy."""
    m = gp.fresh(model)
    loss = ce(first(m(*feeds)), labels)
    loss.backward()
    res = {"grad_norm": {}, "snip": {}, "plain": {}}
    for k, w in counted(m):
        g = w.grad if w.grad is not None else torch.zeros_like(w)
        res["grad_norm"][k] = float(g.norm())
        res["snip"][k] = float((g * w).abs().sum())
        res["plain"][k] = float((g * w).sum())
    return {p: {"score": float(sum(v.values())), "layers": v} for p, v in res.items()}


def jacob_score(J):
    C = np.corrcoef(J)
    v = np.linalg.eigvalsh(C)
    return float(-np.sum(np.log(v + gp.JACOB_K) + 1.0 / (v + gp.JACOB_K)))


def jacob_input(model, feeds, index=0):
    """jacob_cov with respect to float input `index`, the others held fixed."""
    m = gp.fresh(model)
    xs = list(feeds)
    xs[index] = xs[index].clone().requires_grad_(True)
    out = first(m(*xs))
    out.backward(torch.ones_like(out))
    return {"score": jacob_score(xs[index].grad.reshape(N, -1).numpy())}


def jacob_embedding(model, feeds):
    """jacob_cov with respect to the output of model.emb (the Gather of the embedding table)."""
    m = gp.fresh(model)
    saved = {}

    def hook(mod, inp, out):
        out.retain_grad()
        saved["e"] = out

    h = m.emb.register_forward_hook(hook)
    out = first(m(*feeds))
    h.remove()
    out.backward(torch.ones_like(out))
    return {"score": jacob_score(saved["e"].grad.reshape(N, -1).numpy())}


def nwot(model, feeds):
    """NASWOT over every ReLU input (F.relu and nn.ReLU alike: the ONNX graph's Relu nodes)."""
    m = gp.fresh(model)
    K = torch.zeros(N, N, dtype=torch.float64)
    orig = F.relu

    def relu(x, inplace=False):
        c = (x.detach().reshape(N, -1) > 0).double()
        K.add_(c @ c.t() + (1.0 - c) @ (1.0 - c).t())
        return orig(x)

    F.relu = relu
    try:
        with torch.no_grad():
            m(*feeds)
    finally:
        F.relu = orig
    sign, logdet = np.linalg.slogdet(K.numpy())
    return {"score": float(logdet)}


def ints(seed, shape, high):
    n = int(np.prod(shape))
    return torch.from_numpy(np.floor(gf.lcg_uniform(seed, n, 0, high)).astype(np.int64).reshape(shape))


def floats(seed, shape):
    n = int(np.prod(shape))
    return torch.from_numpy(gf.lcg_uniform(seed, n, -2, 2).astype(np.float64).reshape(shape))


def export(model, feeds, names, outputs, dynamic, path):
    args = tuple(f.float() if f.is_floating_point() else f for f in feeds)
    torch.onnx.export(model.train(), args, path, training=torch.onnx.TrainingMode.TRAINING,
                      do_constant_folding=False, opset_version=17, input_names=names,
                      output_names=outputs, dynamic_axes=dynamic)
    onnx.checker.check_model(onnx.load(path))


def tolist(t):
    return t.flatten().tolist()


def build(name):
    torch.manual_seed({"textcls": 1, "textmask": 2, "twoinput": 3, "segmenter": 4, "lm": 5, "scalarbool": 6}[name])
    if name == "textcls":
        model, names, outs = TextCls(), ["ids"], ["logits"]
        feeds = [ints(11, [N, 8], 50)]
        labels = torch.tensor([0, 3, 1, 2])
        dyn = {"ids": {0: "N"}, "logits": {0: "N"}}
    elif name == "textmask":
        model, names, outs = TextMask(), ["ids", "attention_mask"], ["logits"]
        mask = torch.ones(N, 6, dtype=torch.int64)
        mask[1, 4:] = 0
        mask[3, 2:] = 0
        feeds = [ints(12, [N, 6], 40), mask]
        labels = torch.tensor([2, 0, 1, 2])
        dyn = {"ids": {0: "N"}, "attention_mask": {0: "N"}, "logits": {0: "N"}}
    elif name == "twoinput":
        model, names, outs = TwoInput(), ["image", "vector"], ["logits", "boxes"]
        feeds = [floats(13, [N, 3, 8, 8]), floats(14, [N, 5])]
        labels = torch.tensor([3, 1, 0, 2])
        dyn = {"image": {0: "N"}, "vector": {0: "N"}, "logits": {0: "N"}, "boxes": {0: "N"}}
    elif name == "segmenter":
        model, names, outs = Segmenter(), ["image"], ["logits"]
        feeds = [floats(15, [N, 3, 8, 8])]
        labels = ints(16, [N, 8, 8], 5)
        dyn = {"image": {0: "N"}, "logits": {0: "N"}}
    elif name == "lm":
        model, names, outs = LM(), ["ids"], ["logits"]
        feeds = [ints(17, [N, 6], 30)]
        labels = ints(18, [N, 6], 30)
        dyn = {"ids": {0: "N", 1: "T"}, "logits": {0: "N", 1: "T"}}
    elif name == "scalarbool":
        model, names, outs = ScalarBool(), ["x", "scale", "flip"], ["logits"]
        feeds = [floats(19, [N, 6]), torch.tensor(1.5, dtype=torch.float64), torch.tensor(True)]
        labels = torch.tensor([0, 2, 1, 1])
        dyn = {"x": {0: "N"}, "logits": {0: "N"}}
    return model, feeds, names, outs, labels, dyn


def main():
    for name in ["textcls", "textmask", "twoinput", "segmenter", "lm", "scalarbool"]:
        model, feeds, names, outs, labels, dyn = build(name)
        path = os.path.join(HERE, name + ".onnx")
        export(model, feeds, names, outs, dyn, path)
        ref = gradients(model, feeds, labels)
        if name in ("textcls", "textmask", "lm"):
            ref["jacob_cov"] = jacob_embedding(model, feeds)
        else:
            ref["jacob_cov"] = jacob_input(model, feeds)
        if name != "textcls":
            ref["nwot"] = nwot(model, feeds)
        inputs = {}
        for n, f in zip(names, feeds):
            kind = "float" if f.is_floating_point() else ("bool" if f.dtype == torch.bool else "int64")
            vals = [bool(v) for v in tolist(f)] if kind == "bool" else tolist(f)
            inputs[n] = {"shape": list(f.shape), "dtype": kind, "values": vals}
        out = {"model": name, "inputs": inputs, "input_order": names,
               "labels": {"shape": list(labels.shape), "values": tolist(labels)},
               "layer_order": [k for k, _ in counted(model)], "proxies": ref}
        gp.write_json(os.path.join(HERE, name + ".json"), out)
        print("%-10s %6d bytes  %s" % (name, os.path.getsize(path),
                                         ", ".join("%s %.6g" % (k, v["score"]) for k, v in ref.items())))


if __name__ == "__main__":
    main()
