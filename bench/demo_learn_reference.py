"""
How fast a small nodown ResNet learns the demo benchmark in PyTorch 1.13 (Debian python3-torch), for
comparison with `imaginet demo`: trains for --budget seconds on a demo output folder (--root, from
`imaginet demo --out DIR`), then reports the detection AUC per group on its perturbed test set
(--method ce: the trained head; --method selfcon: a logistic-regression probe on the encoder).
The docs quote: --opt adam --lr 1e-3 --aug 0.75 --crop 48 --evalcrop 256 --target group --budget 150.
Run: /usr/bin/python3 bench/demo_learn_reference.py --root imaginet-demo [options]
"""
import sys, time, random, argparse, io, numpy as np, torch, torch.nn as nn, torch.nn.functional as F
from PIL import Image
from sklearn.metrics import roc_auc_score
sys.path.insert(0, __import__("os").path.join(__import__("os").path.dirname(__file__), "..", "scripts", "fixtures"))
import make_train_fixtures as m
ap = argparse.ArgumentParser()
ap.add_argument("--width", type=int, default=4); ap.add_argument("--layers", default="1,1,1,1")
ap.add_argument("--crop", type=int, default=64); ap.add_argument("--batch", type=int, default=64)
ap.add_argument("--lr", type=float, default=0.05); ap.add_argument("--opt", default="sgd")
ap.add_argument("--budget", type=float, default=120); ap.add_argument("--evalevery", type=float, default=60)
ap.add_argument("--target", default="origin"); ap.add_argument("--aug", type=float, default=0.0)
ap.add_argument("--root", default="imaginet-demo"); ap.add_argument("--evalcrop", type=int, default=128)
ap.add_argument("--method", default="ce"); ap.add_argument("--loss", default="multilabel"); ap.add_argument("--temp", type=float, default=0.07); ap.add_argument("--featdim", type=int, default=32)
ap.add_argument("--nodown", type=int, default=1); ap.add_argument("--wd", type=float, default=1e-4)
a = ap.parse_args()
torch.set_num_threads(2); torch.manual_seed(0); random.seed(0)
root = a.root + "/data/"
rows = [l.strip().split(",") for l in open(root + "annotations/train_annotations.txt")]
imgs = [np.asarray(Image.open(root + r[0]).convert("RGB")) for r in rows]
y_origin = torch.tensor([int(r[1]) for r in rows]); y_group = torch.tensor([int(r[3]) for r in rows])
Y = y_origin if a.target == "origin" else y_group
ncls = 2 if a.target == "origin" else 5
mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1); std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
def tens(arr): return (torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).float() / 255 - mean) / std
def crop(arr, s):
    h, w, _ = arr.shape; i = random.randint(0, h - s); j = random.randint(0, w - s)
    c = arr[i:i + s, j:j + s]
    if a.aug > 0 and random.random() < a.aug:
        buf = io.BytesIO(); Image.fromarray(c).save(buf, format=random.choice(["JPEG", "WEBP"]), quality=random.randint(60, 100)); c = np.asarray(Image.open(buf).convert("RGB"))
    return tens(c)
test = {}
for g in ["gan", "sd", "midjourney", "dalle3"]:
    rs = [l.strip().split(",") for l in open(a.root + f"/testset/test_{g}.txt")]
    xs = []
    for r in rs:
        arr = np.asarray(Image.open(a.root + "/testset/" + r[0]).convert("RGB")); h, w, _ = arr.shape; s = a.evalcrop
        xs.append(tens(arr[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]))
    test[g] = (torch.stack(xs), np.array([int(r[1]) for r in rs]), np.array([int(r[3]) for r in rs]))
m.WIDTH = a.width
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = m.Trunk([int(x) for x in a.layers.split(",")], (False, False, False), nodown=bool(a.nodown))
        self.fc = nn.Linear(a.width * 32, ncls)
    def forward(self, x):
        _, f = self.encoder(x); return self.fc(f)
class Con(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = m.Trunk([int(x) for x in a.layers.split(",")], (False, True, False), nodown=bool(a.nodown))
        d = a.width * 32
        self.head = m.mlp(d, a.featdim); self.sub = m.mlp(d, a.featdim)
    def forward(self, x):
        sub, f = self.encoder(x)
        return torch.stack([F.normalize(self.sub(sub[0]), dim=1), F.normalize(self.head(f), dim=1)], 1)
net = Net() if a.method == "ce" else Con()
YL = torch.stack([y_origin, y_origin, y_group], 1)
from sklearn.linear_model import LogisticRegression
def feats(x):
    with torch.no_grad(): return torch.cat([net.encoder(x[i:i + 100])[1] for i in range(0, len(x), 100)]).numpy()
PI = list(range(0, len(imgs), 3))  # the probe's training images
def probe():
    net.eval(); random.seed(123)
    xs = torch.stack([crop(im, min(128, *im.shape[:2])) for im in [imgs[j] for j in PI]]); ft = feats(xs); yo = y_origin[PI].numpy(); yg = y_group[PI].numpy()
    random.seed(time.time())
    clf = LogisticRegression(max_iter=2000).fit(ft, yo); clg = LogisticRegression(max_iter=2000).fit(ft[yo == 1], yg[yo == 1]); out = []
    for g, (x, yo2, yg2) in test.items():
        f2 = feats(x); out.append(f"{g} {roc_auc_score(yo2, clf.decision_function(f2)):.3f}/{np.mean(clg.predict(f2[yo2 == 1]) == yg2[yo2 == 1]):.2f}")
    net.train(); return " ".join(out)

opt = torch.optim.SGD(net.parameters(), lr=a.lr, momentum=0.9, weight_decay=a.wd) if a.opt == "sgd" else torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=a.wd)
def ml(f, labels):
    syn = labels[:, 0] == 1
    if a.loss == "group": return m.con_loss(f, labels[:, 2], a.temp, a.temp)
    if a.loss == "both": return m.con_loss(f, labels[:, 0], a.temp, a.temp) + m.con_loss(f, labels[:, 2], a.temp, a.temp)
    return m.con_loss(f, labels[:, 0], a.temp, a.temp) + m.con_loss(f[syn], labels[syn, 2], a.temp, a.temp)
def evaluate():
    net.eval(); out = []
    with torch.no_grad():
        for g, (x, yo, yg) in test.items():
            lg = torch.cat([net(x[i:i + 100]) for i in range(0, len(x), 100)])
            if ncls == 2: out.append(f"{g} {roc_auc_score(yo, (lg[:, 1] - lg[:, 0]).numpy()):.3f}")
            else:
                p = lg.argmax(1).numpy(); out.append(f"{g} auc {roc_auc_score(yo, -lg.softmax(1)[:, 4].numpy()):.3f} acc {np.mean(p == yg):.2f}")
    net.train(); return " ".join(out)
t0 = time.time(); spent = 0; step = 0; nexteval = a.evalevery; losses = []; seen = 0
while spent < a.budget:
    order = list(range(len(imgs))); random.shuffle(order)
    for b in range(0, len(order) - a.batch + 1, a.batch):
        ts = time.time(); idx = order[b:b + a.batch]
        x = torch.stack([crop(imgs[i], a.crop) for i in idx]); y = Y[idx]
        opt.zero_grad(); loss = F.cross_entropy(net(x), y) if a.method == 'ce' else ml(net(x), YL[idx]); loss.backward(); opt.step(); losses.append(loss.item())
        spent += time.time() - ts; step += 1; seen += len(idx)
        if spent >= nexteval or spent >= a.budget:
            print(f"t={spent:.0f}s step={step} img={seen} loss={np.mean(losses[-20:]):.3f} | {evaluate() if a.method == 'ce' else probe()}", flush=True); nexteval += a.evalevery
        if spent >= a.budget: break
