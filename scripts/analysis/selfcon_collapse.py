#!/usr/bin/python3
"""Why SelfCon collapses on wild-dev (issue #19; docs/wild-dev.md "SelfCon on wild-dev: why it
collapsed"), and whether PyTorch collapses the same way.

Run with Debian's Python (torch 1.13, cv2). The model and loss are upstream's, as written in
scripts/fixtures/make_train_fixtures.py (resnet_big.py ConResNet, losses.py ConLoss), at the stem
width and projection size of the run.

  data      N images of an annotation file (seeded order) as fixed tensors: centre crop (zero-padded
            when smaller), RGB, /255, ImageNet mean/std -> {'x': [N,3,C,C], 'labels': [N,4]}
  train     PyTorch's run from our init.pth (scripts/analysis/selfcon-collapse.ts) on the same
            tensors in the same order, the same optimizer and loss; prints both loss curves
  diagnose  what a checkpoint computes on the data (train-mode BN, as training sees it): spread of
            the normalised projections, dead ReLU units of the heads, spread of the encoder output,
            gradient norms per module
  probe     a quick linear probe: 5-fold cross-validated logistic regression (scikit-learn) of origin
            on the encoder feature (mean of layer4, BN in eval mode) of every image of the data, as
            ROC AUC; compare with the probe of the same run's init.pth (a random encoder)

  /usr/bin/python3 scripts/analysis/selfcon_collapse.py data ANN --root ROOT --n 512 --crop 64 -o data.pth
  npx tsx scripts/analysis/selfcon-collapse.ts data.pth RUN --lr 3e-3 --optimizer adam --loss group
  /usr/bin/python3 scripts/analysis/selfcon_collapse.py train data.pth RUN
  /usr/bin/python3 scripts/analysis/selfcon_collapse.py diagnose data.pth RUN/final.pth
"""
import argparse
import importlib.util
import json
import math
import os
import random

import cv2
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("upstream", os.path.join(HERE, "..", "fixtures", "make_train_fixtures.py"))
up = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(up)

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
GROUP = 2


def centre_crop(img, c):
    h, w = img.shape[:2]
    out = np.zeros((max(h, c), max(w, c), 3), dtype=img.dtype)
    out[(out.shape[0] - h) // 2:(out.shape[0] - h) // 2 + h, (out.shape[1] - w) // 2:(out.shape[1] - w) // 2 + w] = img
    t, l = (out.shape[0] - c) // 2, (out.shape[1] - c) // 2
    return out[t:t + c, l:l + c]


def cmd_data(a):
    rows = [ln.strip().split(",") for ln in open(a.annotations) if ln.strip()]
    random.Random(a.seed).shuffle(rows)
    if a.balance:  # as many real as synthetic images, then one seeded order
        rows = [r for r in rows if r[1] == "0"][:a.n // 2] + [r for r in rows if r[1] == "1"][:a.n // 2]
        random.Random(a.seed).shuffle(rows)
    rows = rows[:a.n]
    xs = []
    for r in rows:
        img = cv2.imread(os.path.join(a.root, r[0]), cv2.IMREAD_COLOR)
        img = cv2.cvtColor(centre_crop(img, a.crop), cv2.COLOR_BGR2RGB).astype(np.float32) / 255
        xs.append(((img - MEAN) / STD).transpose(2, 0, 1))
    labels = torch.tensor([[int(v) for v in r[1:5]] for r in rows], dtype=torch.long)
    torch.save({"x": torch.from_numpy(np.stack(xs)).contiguous(), "labels": labels}, a.out)
    print(f"{a.out}: {len(rows)} images, origin counts {torch.bincount(labels[:, 0]).tolist()}, group counts {torch.bincount(labels[:, 2]).tolist()}")


def build(sd):
    """upstream's ConResNet at the checkpoint's stem width and projection size, weights from sd."""
    up.WIDTH = sd["encoder.conv1.weight"].shape[0]
    up.FEAT_DIM = sd["head.2.weight"].shape[0]
    m = up.ConResNet()
    m.load_state_dict(sd)
    return m


def load(file):
    return build(torch.load(file)["model"])


def loss_of(features, labels, kind, temperature):
    if kind == "multilabel":
        return up.multilabel_imaginet(features, labels)[0]  # upstream: T = 0.07 fixed
    col = GROUP if kind == "group" else 0
    return up.con_loss(features, labels[:, col], temperature, temperature)


def forward(m, x):
    sh, feat, sub_feat, enc = m(x)
    return torch.stack([sh[0], feat], 1), enc, sub_feat[0]


def cmd_train(a):
    data = torch.load(a.data)
    cfg = json.load(open(os.path.join(a.run, "ours.json")))
    c = cfg["config"]
    torch.manual_seed(0)
    m = load(os.path.join(a.run, "init.pth"))
    m.train()
    if c["optimizer"] == "sgd":
        opt = torch.optim.SGD(m.parameters(), lr=c["lr"], momentum=0.9, weight_decay=1e-4)
    else:
        opt = torch.optim.Adam(m.parameters(), lr=c["lr"], weight_decay=1e-4)
    x, labels, b = data["x"], data["labels"], c["batch"]
    losses = []
    for _ in range(c["epochs"]):
        for s in range(0, x.shape[0] - b + 1, b):
            opt.zero_grad()
            features = forward(m, x[s:s + b])[0]
            loss = loss_of(features, labels[s:s + b], c["loss"], c["temperature"])
            loss.backward()
            opt.step()
            losses.append(loss.item())
    torch.save({"model": m.state_dict()}, os.path.join(a.run, "torch_final.pth"))
    ours = cfg["losses"]
    per = len(losses) // c["epochs"]
    print(f"config {c}; log(2n-1) = {math.log(2 * b - 1):.5f}")
    print("epoch  ours(first, last step)   pytorch(first, last step)   max |diff| this epoch")
    for e in range(c["epochs"]):
        o, p = ours[e * per:(e + 1) * per], losses[e * per:(e + 1) * per]
        print(f"{e + 1:5d}  {o[0]:9.5f} {o[-1]:9.5f}      {p[0]:9.5f} {p[-1]:9.5f}        {max(abs(u - v) for u, v in zip(o, p)):.2e}")
    mine = torch.load(os.path.join(a.run, "final.pth"))["model"]
    rel = {k: ((v.float() - mine[k].float()).norm() / mine[k].float().norm().clamp_min(1e-12)).item() for k, v in m.state_dict().items() if v.is_floating_point()}
    worst = max(rel, key=rel.get)
    print(f"final weights: max relative error over tensors (||ours - pytorch|| / ||ours||) {rel[worst]:.2e} ({worst}), median {sorted(rel.values())[len(rel) // 2]:.2e}")
    json.dump({"config": c, "ours": ours, "pytorch": losses}, open(os.path.join(a.run, "compare.json"), "w"))


def cmd_diagnose(a):
    data = torch.load(a.data)
    ck = torch.load(a.ckpt)
    m = build(ck["model"])
    m.train()
    b = a.batch
    x, labels = data["x"][:b], data["labels"][:b]
    acts = {}
    m.head[1].register_forward_hook(lambda mod, i, o: acts.__setitem__("head", o.detach().clone()))
    m.sub_heads[0][1].register_forward_hook(lambda mod, i, o: acts.__setitem__("sub_head", o.detach().clone()))
    features, enc, sub = forward(m, x)
    loss = loss_of(features, labels, a.loss, a.temperature)
    m.zero_grad()
    loss.backward()
    f = torch.cat([features[:, 0], features[:, 1]], 0).detach()
    cos = f @ f.T
    off = cos[~torch.eye(cos.shape[0], dtype=torch.bool)]
    print(f"{a.ckpt}: loss {loss.item():.5f} (log(2n-1) = {math.log(2 * b - 1):.5f})")
    print(f"  projections: pairwise cosine min {off.min():.6f} mean {off.mean():.6f}; per-dim std over the batch {f.std(0).mean():.2e}")
    for name, h in acts.items():
        dead = (h.amax(0) <= 0).float().mean().item()
        print(f"  {name} hidden ReLU: {dead * 100:.1f}% of units zero on every image, mean activation {h.mean():.3e}")
    for name, e in (("encoder_feat (mean of layer4)", enc), ("encoder_sub (selfcon_layer)", sub)):
        e = e.detach()
        print(f"  {name}: per-dim std over the batch {e.std(0).mean():.3e}, |mean| {e.mean(0).abs().mean():.3e}")
    groups = {}
    for k, p in m.named_parameters():
        top = ".".join(k.split(".")[:2])
        g = p.grad.norm().item() if p.grad is not None else 0.0
        groups[top] = math.hypot(groups.get(top, 0.0), g)
    print("  gradient norms: " + ", ".join(f"{k} {v:.2e}" for k, v in groups.items()))
    h2 = {k: ck["model"][k].norm().item() for k in ("head.0.weight", "head.0.bias", "head.2.weight", "head.2.bias", "sub_heads.0.0.bias", "sub_heads.0.2.bias")}
    print("  weight norms: " + ", ".join(f"{k} {v:.3e}" for k, v in h2.items()))


def cmd_probe(a):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict, StratifiedKFold
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    data = torch.load(a.data)
    y = data["labels"][:, 0].numpy()
    for file in a.ckpts:
        m = build(torch.load(file)["model"])
        m.eval()
        with torch.no_grad():
            f = torch.cat([forward(m, data["x"][s:s + 64])[1] for s in range(0, data["x"].shape[0], 64)]).numpy()
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
        p = cross_val_predict(clf, f, y, cv=StratifiedKFold(5, shuffle=True, random_state=0), method="predict_proba")[:, 1]
        print(f"{file}: linear probe (origin, 5-fold CV) ROC AUC {roc_auc_score(y, p):.3f} on {len(y)} images")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("data")
    d.add_argument("annotations")
    d.add_argument("--root", required=True)
    d.add_argument("--n", type=int, default=512)
    d.add_argument("--crop", type=int, default=64)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--balance", action="store_true", help="half real, half synthetic")
    d.add_argument("-o", "--out", required=True)
    t = sub.add_parser("train")
    t.add_argument("data")
    t.add_argument("run")
    g = sub.add_parser("diagnose")
    g.add_argument("data")
    g.add_argument("ckpt")
    g.add_argument("--batch", type=int, default=64)
    g.add_argument("--loss", default="group")
    g.add_argument("--temperature", type=float, default=0.07)
    r = sub.add_parser("probe")
    r.add_argument("data")
    r.add_argument("ckpts", nargs="+")
    a = p.parse_args()
    {"data": cmd_data, "train": cmd_train, "diagnose": cmd_diagnose, "probe": cmd_probe}[a.cmd](a)


if __name__ == "__main__":
    main()
