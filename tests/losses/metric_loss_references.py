"""Naive numpy re-derivations of the metric-learning losses: explicit loops over pairs/triplets.

Written from the papers' formulas (Wen et al. 2016; Hermans et al. 2017; Khosla et al. 2020),
independently of kerasimb's vectorised code.
"""

import math

import numpy as np


def distance(a, b, kind):
    squared = float(np.sum((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return squared if kind == "squared" else math.sqrt(squared)


def center_loss(labels, features, centers):
    total = 0.0
    for y, r in zip(labels, features):
        total += float(np.sum((np.asarray(r, np.float64) - centers[y]) ** 2))
    return total / len(labels)


def center_update(labels, features, centers, alpha):
    new = np.array(centers, np.float64)
    for j in range(len(centers)):
        members = [i for i, y in enumerate(labels) if y == j]
        delta = sum((centers[j] - features[i] for i in members), np.zeros(centers.shape[1]))
        new[j] = centers[j] - alpha * delta / (1 + len(members))
    return new


def triplet_batch_hard(labels, features, margin, kind):
    losses = []
    n = len(labels)
    for a in range(n):
        positives = [distance(features[a], features[p], kind)
                     for p in range(n) if p != a and labels[p] == labels[a]]
        negatives = [distance(features[a], features[k], kind)
                     for k in range(n) if labels[k] != labels[a]]
        if positives and negatives:
            losses.append(max(0.0, max(positives) - min(negatives) + margin))
    return sum(losses) / len(losses) if losses else 0.0


def triplet_batch_all(labels, features, margin, kind):
    losses = []
    n = len(labels)
    for a in range(n):
        for p in range(n):
            if p == a or labels[p] != labels[a]:
                continue
            for k in range(n):
                if labels[k] == labels[a]:
                    continue
                d_ap = distance(features[a], features[p], kind)
                d_an = distance(features[a], features[k], kind)
                losses.append(max(0.0, d_ap - d_an + margin))
    return sum(losses) / len(losses) if losses else 0.0


def supcon(labels, features, temperature, base_temperature=None):
    """features (B, V, d) or (B, d); every (sample, view) is an anchor."""
    features = np.asarray(features, np.float64)
    if features.ndim == 2:
        features = features[:, None, :]
    items = [(labels[b], features[b, v] / np.linalg.norm(features[b, v]))
             for b in range(features.shape[0]) for v in range(features.shape[1])]
    scale = 1.0 if base_temperature is None else temperature / base_temperature
    losses = []
    for i, (yi, zi) in enumerate(items):
        denominator = sum(math.exp(float(zi @ zk) / temperature)
                          for k, (_, zk) in enumerate(items) if k != i)
        terms = [math.log(math.exp(float(zi @ zp) / temperature) / denominator)
                 for p, (yp, zp) in enumerate(items) if p != i and yp == yi]
        if terms:
            losses.append(-scale * sum(terms) / len(terms))
    return sum(losses) / len(losses) if losses else 0.0
