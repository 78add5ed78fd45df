"""Reference for bench/eval.ts (run with /usr/bin/python3: Debian's python3-sklearn and python3-numpy).

    eval_reference.py INPUT.bin N DETECTORS RESAMPLES SEED

INPUT.bin: DETECTORS x N float64 scores (probabilities of "synthetic", detector-major, little endian)
followed by N uint8 labels. Times, for all detectors, the point metrics with sklearn (roc_auc_score,
average_precision_score, roc_curve for EER and TPR@FPR, accuracy, balanced accuracy, confusion
matrix, Brier score, calibration_curve with 15 bins; predictions = score >= 0.5), then a naive
stratified bootstrap of roc_auc_score for the first detector (RESAMPLES index resamples, each scored
by sklearn, which sorts every time). Prints JSON with the seconds and the values, for cross-checking.
"""
import json
import sys
import time

import numpy as np
import sklearn
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    brier_score_loss,
    confusion_matrix,
    roc_auc_score,
    roc_curve,
)


def eer(fpr, tpr):
    fnr = 1.0 - tpr
    i = np.flatnonzero(fpr >= fnr)[0]
    if fpr[i] == fnr[i]:
        return float(fpr[i])
    dx, dy = fpr[i] - fpr[i - 1], fnr[i] - fnr[i - 1]
    return float(fpr[i - 1] + (fnr[i - 1] - fpr[i - 1]) / (dx - dy) * dx)


def point_metrics(y, s):
    pred = (s >= 0.5).astype(np.int64)
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    calibration_curve(y, s, n_bins=15, strategy="uniform")
    confusion_matrix(y, pred, labels=[0, 1])
    return {
        "rocAuc": roc_auc_score(y, s),
        "averagePrecision": average_precision_score(y, s),
        "eer": eer(fpr, tpr),
        "tprAt1%": float(tpr[fpr <= 0.01].max()),
        "tprAt0.1%": float(tpr[fpr <= 0.001].max()),
        "accuracy": accuracy_score(y, pred),
        "balancedAccuracy": balanced_accuracy_score(y, pred),
        "brier": brier_score_loss(y, s),
    }


def naive_bootstrap_auc(y, s, resamples, seed):
    rng = np.random.default_rng(seed)
    strata = [np.flatnonzero(y == c) for c in (0, 1)]
    values = np.empty(resamples)
    for b in range(resamples):
        idx = np.concatenate([m[rng.integers(0, len(m), len(m))] for m in strata])
        values[b] = roc_auc_score(y[idx], s[idx])
    return np.percentile(values, [2.5, 97.5]).tolist()


def main():
    path, n, detectors, resamples, seed = sys.argv[1], *map(int, sys.argv[2:6])
    raw = open(path, "rb").read()
    scores = np.frombuffer(raw, "<f8", detectors * n).reshape(detectors, n)
    y = np.frombuffer(raw, np.uint8, n, detectors * n * 8).astype(np.int64)
    t0 = time.perf_counter()
    values = [point_metrics(y, scores[d]) for d in range(detectors)]
    t1 = time.perf_counter()
    interval = naive_bootstrap_auc(y, scores[0], resamples, seed)
    t2 = time.perf_counter()
    print(json.dumps({
        "sklearn": sklearn.__version__,
        "pointSeconds": t1 - t0,
        "bootstrapSeconds": t2 - t1,
        "values": values,
        "aucInterval": interval,
    }))


if __name__ == "__main__":
    main()
