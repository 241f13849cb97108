"""Independent numpy re-derivations of the imbalance losses, written from the papers' formulas.

Deliberately naive: float64, explicit loops over examples and classes, no shared code with
kerasimb (only numpy and math), so that a mistake in the vectorised library code cannot be
repeated here.
"""

import math

import numpy as np


def to_targets(y, num_classes):
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 2 and y.shape[1] == num_classes:
        return y
    labels = y.reshape(-1).astype(int)
    out = np.zeros((len(labels), num_classes))
    out[np.arange(len(labels)), labels] = 1.0
    return out


def softmax_row(z):
    z = np.asarray(z, dtype=np.float64)
    m = max(z)
    e = [math.exp(v - m) for v in z]
    s = sum(e)
    return [v / s for v in e]


def log_softmax_row(z):
    z = np.asarray(z, dtype=np.float64)
    m = max(z)
    lse = m + math.log(sum(math.exp(v - m) for v in z))
    return [v - lse for v in z]


def effective_weights(counts, beta):
    """Cui et al., eq. (6)-(7): w_j = (1 - beta) / (1 - beta^n_j), normalised to sum to C."""
    raw = [(1.0 - beta) / (1.0 - beta**n) for n in counts]
    total = sum(raw)
    return [len(counts) * r / total for r in raw]


def focal(y, logits, gamma, alpha=None):
    """Lin et al.: FL(p_t) = -alpha_t (1 - p_t)^gamma log(p_t), summed over soft targets."""
    logits = np.asarray(logits, dtype=np.float64)
    targets = to_targets(y, logits.shape[1])
    out = []
    for z, t in zip(logits, targets):
        logp = log_softmax_row(z)
        total = 0.0
        for c in range(len(z)):
            if t[c] == 0:
                continue
            p = math.exp(logp[c])
            a = 1.0 if alpha is None else (alpha if np.isscalar(alpha) else alpha[c])
            total += -a * t[c] * (1.0 - p) ** gamma * logp[c]
        out.append(total)
    return np.array(out)


def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def class_balanced(y, logits, counts, beta, loss_type, gamma):
    """Cui et al., eq. (9), (10), (12): softmax, sigmoid and sigmoid-focal class-balanced losses."""
    logits = np.asarray(logits, dtype=np.float64)
    targets = to_targets(y, logits.shape[1])
    w = effective_weights(counts, beta)
    out = []
    for z, t in zip(logits, targets):
        if loss_type == "softmax":
            logp = log_softmax_row(z)
            out.append(sum(-w[c] * t[c] * logp[c] for c in range(len(z))))
            continue
        weight = sum(w[c] * t[c] for c in range(len(z)))
        total = 0.0
        for c in range(len(z)):
            # Binary cross-entropy with (soft) target t_c: log p = -log(1 + e^-z) and
            # log(1 - p) = -log(1 + e^z), exact in float64 for the logits tested.
            log_p, log_1mp = -math.log1p(math.exp(-z[c])), -math.log1p(math.exp(z[c]))
            bce = -(t[c] * log_p + (1.0 - t[c]) * log_1mp)
            if loss_type == "focal":
                # (1 - p_t)^gamma for hard targets; the paper's exp form for soft ones.
                if t[c] in (0.0, 1.0):
                    one_minus_p_t = _sigmoid(-z[c]) if t[c] == 1.0 else _sigmoid(z[c])
                    bce *= one_minus_p_t**gamma
                else:
                    bce *= math.exp(-gamma * t[c] * z[c] - gamma * math.log1p(math.exp(-z[c])))
            total += bce
        out.append(weight * total)
    return np.array(out)


def ldam_margins(counts, max_margin):
    """Cao et al., Thm. 2: Delta_j = C / n_j^(1/4), C chosen so that max_j Delta_j = max_margin."""
    raw = [1.0 / n**0.25 for n in counts]
    c = max_margin / max(raw)
    return [c * r for r in raw]


def ldam(y, logits, counts, max_margin, scale, weights=None):
    """Cao et al., eq. (13): -log e^{s(z_y - D_y)} / (e^{s(z_y - D_y)} + sum_{j!=y} e^{s z_j})."""
    logits = np.asarray(logits, dtype=np.float64)
    targets = to_targets(y, logits.shape[1])
    delta = ldam_margins(counts, max_margin)
    out = []
    for z, t in zip(logits, targets):
        adjusted = [scale * (z[c] - t[c] * delta[c]) for c in range(len(z))]
        logp = log_softmax_row(adjusted)
        loss = -sum(t[c] * logp[c] for c in range(len(z)))
        if weights is not None:
            loss *= sum(t[c] * weights[c] for c in range(len(z)))
        out.append(loss)
    return np.array(out)


def logit_adjusted(y, logits, counts, tau):
    """Menon et al., eq. (10): -log e^{f_y + tau log pi_y} / sum_j e^{f_j + tau log pi_j}."""
    logits = np.asarray(logits, dtype=np.float64)
    targets = to_targets(y, logits.shape[1])
    total = float(sum(counts))
    out = []
    for z, t in zip(logits, targets):
        adjusted = [z[c] + tau * math.log(counts[c] / total) for c in range(len(z))]
        logp = log_softmax_row(adjusted)
        out.append(-sum(t[c] * logp[c] for c in range(len(z))))
    return np.array(out)
