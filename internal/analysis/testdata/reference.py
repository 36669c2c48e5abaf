#!/usr/bin/env python3
"""Reference values for the statistics of internal/analysis.

Run from the repository root:

    python3 internal/analysis/testdata/reference.py > internal/analysis/testdata/reference.json

Written for Python 3.11 with mpmath 1.3.0 (no SciPy/NumPy). Nothing here
reads or runs the Go code under test: every value is computed from the
definitions, with mpmath at 40 significant digits for the special functions
(Student t and normal distributions), brute-force enumeration for the exact
Wilcoxon distribution, numerical quadrature for the mixture likelihood ratio,
and a reimplementation of the PCG-DXSM generator (as specified by Go's
math/rand/v2 source) for the bootstrap. Published textbook values are
recorded verbatim next to them. See README.md for the provenance of each.
"""

import itertools
import json
import math
import random
import sys

import mpmath as mp

mp.mp.dps = 40


# ---------------------------------------------------------------- shared functions

def mean(x):
    return mp.fsum(mp.mpf(v) for v in x) / len(x)


def sd(x):
    m = mean(x)
    return mp.sqrt(mp.fsum((mp.mpf(v) - m) ** 2 for v in x) / (len(x) - 1))


def t_sf(t, nu):
    """P(T > t) for Student's t with nu degrees of freedom, via the
    regularized incomplete beta function."""
    t = mp.mpf(t)
    x = nu / (nu + t * t)
    tail = mp.betainc(mp.mpf(nu) / 2, mp.mpf(1) / 2, 0, x, regularized=True) / 2
    return tail if t >= 0 else 1 - tail


def t_quantile(p, nu):
    """Upper quantile by root finding on the CDF."""
    return mp.findroot(lambda q: (1 - t_sf(q, nu)) - p, mp.mpf(2))


def f(x):
    return float(x)


# ---------------------------------------------------------------- t-test

def ttest(d, level):
    n = len(d)
    m, s = mean(d), sd(d)
    se = s / mp.sqrt(n)
    t = m / se
    p = 2 * t_sf(abs(t), n - 1)
    q = t_quantile(1 - (1 - mp.mpf(level)) / 2, n - 1)
    return {
        "n": n, "mean": f(m), "sd": f(s), "se": f(se), "t": f(t), "df": n - 1,
        "p": f(p), "ci_lo": f(m - q * se), "ci_hi": f(m + q * se),
        "reduction": f(-mp.expm1(m)),
        "reduction_lo": f(-mp.expm1(m + q * se)), "reduction_hi": f(-mp.expm1(m - q * se)),
    }


# Student's sleep data (Cushny & Peebles 1905, as tabulated by Student 1908;
# R's datasets::sleep): extra hours of sleep for 10 patients under two drugs.
SLEEP_GROUP1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
SLEEP_GROUP2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]


def sleep_case():
    d = [b - a for a, b in zip(SLEEP_GROUP1, SLEEP_GROUP2)]
    out = ttest(d, 0.95)
    out["name"] = "student-sleep"
    out["d"] = d
    out["level"] = 0.95
    # R: t.test(extra ~ group, data = sleep, paired = TRUE) prints, for
    # group1 - group2: t = -4.0621, df = 9, p-value = 0.002833,
    # 95 percent confidence interval -2.4598858 -0.7001142,
    # mean difference -1.58. Signs flipped here for group2 - group1.
    out["published"] = {
        "source": "R datasets::sleep, paired t.test output (group2 - group1)",
        "t": 4.0621, "t_tol": 5e-5,
        "p": 0.002833, "p_tol": 5e-7,
        "ci_lo": 0.7001142, "ci_hi": 2.4598858, "ci_tol": 5e-8,
        "mean": 1.58, "mean_tol": 5e-9,
    }
    return out


def series_pairs(seed, n, base_level, reduction, cv):
    """Integer series counts of one host: baseline around base_level with
    coefficient of variation cv, candidate = baseline*(1-reduction) with its
    own noise, rounded like counts are."""
    r = random.Random(seed)
    base, cand = [], []
    for _ in range(n):
        b = round(base_level * math.exp(r.gauss(0, cv)))
        c = round(b * (1 - reduction) * math.exp(r.gauss(0, cv)))
        base.append(b)
        cand.append(c)
    return base, cand


def logratio_cases():
    cases = []
    for name, seed, n, level, red, cv in [
        ("topk-18", 11, 18, 0.95, 0.62, 0.02),
        ("priority-40", 12, 40, 0.90, 0.15, 0.03),
        ("aa-25", 13, 25, 0.99, 0.0, 0.025),
    ]:
        b, c = series_pairs(seed, n, 7000, red, cv)
        d = [math.log(ci / bi) for bi, ci in zip(b, c)]
        out = ttest(d, level)
        out.update({"name": name, "baseline": b, "candidate": c, "level": level})
        cases.append(out)
    return cases


# ---------------------------------------------------------------- Wilcoxon

def midranks(absvals):
    order = sorted(range(len(absvals)), key=lambda i: absvals[i])
    ranks = [0.0] * len(absvals)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and absvals[order[j + 1]] == absvals[order[i]]:
            j += 1
        r = (i + 1 + j + 1) / 2
        for k in range(i, j + 1):
            ranks[order[k]] = r
        i = j + 1
    return ranks


def wilcoxon_bruteforce(d):
    """Exact conditional p-values by enumerating all 2^n sign vectors."""
    nz = [x for x in d if x != 0]
    zeros = len(d) - len(nz)
    ranks = midranks([abs(x) for x in nz])
    v = sum(r for r, x in zip(ranks, nz) if x > 0)
    ge = le = 0
    total = 0
    for signs in itertools.product((0, 1), repeat=len(nz)):
        s = sum(r for r, b in zip(ranks, signs) if b)
        total += 1
        if s >= v - 1e-9:
            ge += 1
        if s <= v + 1e-9:
            le += 1
    pg, pl = ge / total, le / total
    ties = len(set(abs(x) for x in nz)) < len(nz)
    return {"n": len(nz), "zeros": zeros, "ties": ties, "w_plus": v, "exact": True,
            "p_greater": pg, "p_less": pl, "p": min(1.0, 2 * min(pg, pl))}


def wilcoxon_normal(d):
    """Normal approximation with the textbook tie correction
    n(n+1)(2n+1)/24 - sum(t^3 - t)/48 and a 1/2 continuity correction."""
    nz = [x for x in d if x != 0]
    zeros = len(d) - len(nz)
    n = len(nz)
    absv = [abs(x) for x in nz]
    ranks = midranks(absv)
    v = sum(r for r, x in zip(ranks, nz) if x > 0)
    groups = {}
    for a in absv:
        groups[a] = groups.get(a, 0) + 1
    tie = sum(t ** 3 - t for t in groups.values())
    var = mp.mpf(n * (n + 1) * (2 * n + 1)) / 24 - mp.mpf(tie) / 48
    z = mp.mpf(v) - mp.mpf(n * (n + 1)) / 4
    z = z - mp.sign(z) * mp.mpf(1) / 2
    z = z / mp.sqrt(var)
    pg = 1 - mp.ncdf(z)
    pl = mp.ncdf(z)
    return {"n": n, "zeros": zeros, "ties": tie > 0, "w_plus": v, "exact": False, "z": f(z),
            "p_greater": f(pg), "p_less": f(pl), "p": f(min(1, 2 * min(pg, pl)))}


def wilcoxon_cases():
    cases = []
    # Hollander & Wolfe (1973), p. 29: Hamilton depression scale before (x)
    # and after (y) the first treatment; R's ?wilcox.test example with
    # alternative = "greater" prints V = 40, p-value = 0.01953.
    x = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30]
    y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29]
    d = [a - b for a, b in zip(x, y)]
    c = wilcoxon_bruteforce(d)
    c.update({"name": "hollander-wolfe-depression", "d": d,
              "published": {"source": "Hollander & Wolfe (1973) p. 29; R wilcox.test example",
                            "w_plus": 40, "p_greater": 0.01953, "p_greater_tol": 5e-6,
                            "p_greater_exact": "10/512"}})
    cases.append(c)
    # Ties and zeros, enumerated.
    d = [0.5, -0.5, 1.2, 0, 0.3, -0.3, 0.3, 2.0, -1.1, 0.7, 0, 1.5]
    c = wilcoxon_bruteforce(d)
    c.update({"name": "ties-and-zeros", "d": d})
    cases.append(c)
    # Log-ratios of integer counts (repeated ratios make exact ties), n = 16.
    b, cc = series_pairs(21, 16, 60, 0.01, 0.03)
    d = [math.log(ci / bi) for bi, ci in zip(b, cc)]
    c = wilcoxon_bruteforce(d)
    c.update({"name": "logratio-16", "d": d})
    cases.append(c)
    # One negative among 12: the smallest p attainable is 2/4096.
    d = [0.1 * (i + 1) for i in range(12)]
    d[0] = -d[0]
    c = wilcoxon_bruteforce(d)
    c.update({"name": "nearly-all-positive-12", "d": d})
    cases.append(c)
    # Normal approximation, n = 60 with ties and zeros.
    r = random.Random(31)
    d = [round(r.gauss(0.15, 1.0), 1) for _ in range(57)] + [0.0, 0.0, 0.0]
    c = wilcoxon_normal(d)
    c.update({"name": "normal-60-ties-zeros", "d": d})
    cases.append(c)
    # Normal approximation, n = 400 continuous.
    r = random.Random(32)
    d = [r.gauss(-0.02, 0.3) for _ in range(400)]
    c = wilcoxon_normal(d)
    c.update({"name": "normal-400", "d": d})
    cases.append(c)
    # Normal approximation far in the tail (p around 1e-13): the relative
    # precision of small p-values.
    r = random.Random(33)
    d = [r.gauss(0.9, 1.0) for _ in range(120)]
    c = wilcoxon_normal(d)
    c.update({"name": "normal-120-tail", "d": d})
    cases.append(c)
    return cases


# ---------------------------------------------------------------- bootstrap

M64 = (1 << 64) - 1
M128 = (1 << 128) - 1
PCG_MUL = (2549297995355413924 << 64) | 4865540595714422341
PCG_INC = (6364136223846793005 << 64) | 1442695040888963407
BOOTSTRAP_STREAM = 0x50484F454E495821


class PCG:
    """PCG with 128-bit LCG state and DXSM output, as Go's math/rand/v2
    PCG: state = state*mul + inc (mod 2^128), then
    hi ^= hi>>32; hi *= 0xda942042e4dd58b5; hi ^= hi>>48; hi *= lo|1."""

    def __init__(self, seed1, seed2):
        self.state = (seed1 << 64) | seed2

    def uint64(self):
        self.state = (self.state * PCG_MUL + PCG_INC) & M128
        hi, lo = self.state >> 64, self.state & M64
        hi ^= hi >> 32
        hi = (hi * 0xDA942042E4DD58B5) & M64
        hi ^= hi >> 48
        hi = (hi * (lo | 1)) & M64
        return hi


def fnv1a64(s):
    h = 14695981039346656037
    for b in s.encode():
        h ^= b
        h = (h * 1099511628211) & M64
    return h


def quantile7(xs, p):
    h = (len(xs) - 1) * p
    lo = math.floor(h)
    if lo >= len(xs) - 1:
        return xs[-1]
    return xs[lo] + (h - lo) * (xs[lo + 1] - xs[lo])


def bootstrap(d, resamples, seed, level, ends=None):
    """Percentile bootstrap of the mean resampling clusters: ends[k] is one
    past the last value of cluster k (None: every value its own cluster).
    A resample draws k clusters with replacement, index (x*k) >> 64 for
    each 64-bit output x; its mean is the sum of the drawn values over
    their count."""
    if ends is None:
        ends = list(range(1, len(d) + 1))
    sums, counts = [], []
    start = 0
    for end in ends:
        if end > start:
            s = 0.0
            for v in d[start:end]:
                s += v
            sums.append(s)
            counts.append(float(end - start))
        start = end
    k = len(sums)
    g = PCG(seed, BOOTSTRAP_STREAM)
    means = []
    for _ in range(resamples):
        s = c = 0.0
        for _ in range(k):
            i = (g.uint64() * k) >> 64
            s += sums[i]
            c += counts[i]
        means.append(s / c)
    means.sort()
    a = (1 - level) / 2
    return quantile7(means, a), quantile7(means, 1 - a)


def ideal_bootstrap(d, level):
    """The bootstrap distribution of the mean enumerated over all n^n
    equally likely resamples (no random numbers)."""
    n = len(d)
    means = sorted(sum(d[i] for i in idx) / n for idx in itertools.product(range(n), repeat=n))
    a = (1 - level) / 2
    return quantile7(means, a), quantile7(means, 1 - a)


def bootstrap_cases():
    cases = []
    b, c = series_pairs(41, 18, 5000, 0.3, 0.03)
    d = [math.log(ci / bi) for bi, ci in zip(b, c)]
    for key, resamples, level in [("exp-0001/output_series", 2000, 0.95), ("exp-0002/output_bytes_per_min", 500, 0.9)]:
        seed = fnv1a64(key)
        lo, hi = bootstrap(d, resamples, seed, level)
        cases.append({"name": key, "d": d, "key": key, "seed": str(seed), "resamples": resamples,
                      "level": level, "lo": lo, "hi": hi})
    r = random.Random(42)
    d = [r.gauss(0.0, 0.05) for _ in range(200)]
    key = "exp-aa/output_series"
    seed = fnv1a64(key)
    lo, hi = bootstrap(d, 2000, seed, 0.95)
    cases.append({"name": key, "d": d, "key": key, "seed": str(seed), "resamples": 2000,
                  "level": 0.95, "lo": lo, "hi": hi})
    # Clusters of one scrape interval: 3 hosts, one of them missing at some
    # intervals, one interval with no pair at all.
    r = random.Random(43)
    d, ends = [], []
    for step in range(40):
        if step == 7:
            ends.append(len(d))
            continue
        shock = r.gauss(0, 0.02)  # shared by the hosts of the interval
        for h in range(3):
            if h == 2 and step % 5 == 0:
                continue
            d.append(math.log(0.7) + 0.05 * h + shock + r.gauss(0, 0.03))
        ends.append(len(d))
    key = "exp-cluster/output_series"
    seed = fnv1a64(key)
    lo, hi = bootstrap(d, 2000, seed, 0.95, ends)
    cases.append({"name": key, "d": d, "ends": ends, "key": key, "seed": str(seed), "resamples": 2000,
                  "level": 0.95, "lo": lo, "hi": hi})
    # PCG stream check: first outputs of PCG(1, 2).
    g = PCG(1, 2)
    pcg = [str(g.uint64()) for _ in range(3)]
    # Ideal bootstrap of a tiny sample (6^6 resamples), compared with many
    # random resamples: a check of the resampling, not of the generator.
    tiny = [0.3, -0.1, 0.45, 0.05, 0.2, -0.25]
    ilo, ihi = ideal_bootstrap(tiny, 0.9)
    return {"cases": cases, "pcg_1_2": pcg, "ideal": {"d": tiny, "level": 0.9, "lo": ilo, "hi": ihi}}


# ---------------------------------------------------------------- sequential

def mixture_bf_closed(t, n, g):
    """Rouder et al. (2009) Bayes factor for fixed g."""
    v = mp.mpf(n - 1)
    c = 1 + n * mp.mpf(g)
    t = mp.mpf(t)
    return c ** mp.mpf(-0.5) * ((1 + t * t / v) / (1 + t * t / (v * c))) ** ((v + 1) / 2)


def mixture_bf_quadrature(x, g):
    """The mixture likelihood ratio from its definition, by the trapezoidal
    rule on a fine grid:
      num = int int prod N(x_i | delta*sigma, sigma^2) N(delta | 0, g) dsigma/sigma ddelta
      den = int prod N(x_i | 0, sigma^2) dsigma/sigma
    with sigma = exp(a) (so dsigma/sigma = da). The integrands are smooth and
    decay fast, where the trapezoidal rule converges geometrically."""
    n = len(x)
    s1 = sum(x)
    s2 = sum(v * v for v in x)
    ha, hd = 0.004, 0.008
    alist = [-9 + i * ha for i in range(int(13 / ha) + 1)]
    dlist = [-20 + i * hd for i in range(int(40 / hd) + 1)]
    lc = -0.5 * n * math.log(2 * math.pi)
    den = 0.0
    num = 0.0
    norm = 1 / math.sqrt(2 * math.pi * g)
    for a in alist:
        s = math.exp(a)
        base = lc - n * a
        den += math.exp(base - 0.5 * s2 / (s * s))
        inner = 0.0
        for dd in dlist:
            mu = dd * s
            inner += math.exp(base - 0.5 * (s2 - 2 * mu * s1 + n * mu * mu) / (s * s) - 0.5 * dd * dd / g)
        num += inner * hd * norm
    return num / den


def critical_t(n, g, alpha):
    """|t| where the Bayes factor reaches 1/alpha, by root finding (or inf
    when its supremum (1+n*g)^((n-1)/2) stays below 1/alpha)."""
    c = 1 + n * mp.mpf(g)
    if c ** (mp.mpf(n - 1) / 2) <= 1 / mp.mpf(alpha):
        return math.inf
    lo, hi = mp.mpf(0), mp.mpf(1)
    while mixture_bf_closed(hi, n, g) < 1 / mp.mpf(alpha):
        hi *= 2
    return f(mp.findroot(lambda t: mixture_bf_closed(t, n, g) - 1 / mp.mpf(alpha), (lo, hi), solver="anderson"))


def sequential_path(x, per_look, nulls, g, alpha):
    """Batch recomputation at every look (no running updates): mean and sd
    of x[:k], p_i = running min of 1/BF, CS = running intersection."""
    p = [1.0] * len(nulls)
    lo, hi = -math.inf, math.inf
    looks = []
    for k in range(per_look, len(x) + 1, per_look):
        if k < 2:
            looks.append({"n": k, "p": list(p), "cs_lo": None, "cs_hi": None})
            continue
        xs = x[:k]
        m, s = mean(xs), sd(xs)
        se = s / mp.sqrt(k)
        for i, th in enumerate(nulls):
            t = (m - th) / se
            p[i] = min(p[i], f(1 / mixture_bf_closed(t, k, g)))
        tc = critical_t(k, g, alpha)
        if tc != math.inf:
            lo = max(lo, f(m - tc * se))
            hi = min(hi, f(m + tc * se))
        looks.append({"n": k, "p": [min(1.0, v) for v in p], "cs_lo": lo if lo != -math.inf else None,
                      "cs_hi": hi if hi != math.inf else None})
    return looks


def sequential_cases():
    out = {}
    # Quadrature check of the closed form on two small samples.
    quad = []
    for x, g in [([0.3, -0.1, 0.5, 0.2, 0.4, 0.1], 1.0), ([-0.02, 0.01, -0.05, -0.03, 0.0, -0.04, -0.01, -0.06], 0.5)]:
        m, s = mean(x), sd(x)
        t = m / (s / mp.sqrt(len(x)))
        quad.append({"x": x, "g": g, "t": f(t), "bf_quadrature": mixture_bf_quadrature(x, g),
                     "bf_closed": f(mixture_bf_closed(t, len(x), g))})
    out["quadrature"] = quad
    grid = []
    for t, n, g in [(0.0, 2, 1.0), (1.5, 5, 1.0), (3.2, 18, 1.0), (2.5, 100, 0.25), (-4.0, 30, 2.0), (10.0, 10, 1.0)]:
        grid.append({"t": t, "n": n, "g": g, "bf": f(mixture_bf_closed(t, n, g))})
    out["bf_grid"] = grid
    crit = []
    for n, g, alpha in [(2, 1.0, 0.05), (4, 1.0, 0.05), (5, 1.0, 0.05), (18, 1.0, 0.05), (60, 1.0, 0.01), (3600, 1.0, 0.05), (40, 0.1, 0.1)]:
        tc = critical_t(n, g, alpha)
        crit.append({"n": n, "g": g, "alpha": alpha, "t": None if tc == math.inf else tc})
    out["critical_t"] = crit
    # A stream: 3 hosts per look, a 25% reduction with 3% noise on log-ratios.
    r = random.Random(51)
    x = [math.log(0.75) + r.gauss(0, 0.03) for _ in range(45)]
    nulls = [0.0, math.log(1 - 0.2)]
    out["path"] = {"x": x, "per_look": 3, "nulls": nulls, "g": 1.0, "alpha": 0.05,
                   "looks": sequential_path(x, 3, nulls, 1.0, 0.05)}
    # A/A stream, one observation per look.
    r = random.Random(52)
    x = [r.gauss(0, 0.03) for _ in range(30)]
    out["path_aa"] = {"x": x, "per_look": 1, "nulls": [0.0], "g": 1.0, "alpha": 0.05,
                      "looks": sequential_path(x, 1, [0.0], 1.0, 0.05)}
    return out


def lag1_cases():
    out = []
    for x in [[1.0, 2.0, 3.0, 4.0, 5.0], [0.1, -0.2, 0.15, -0.05, 0.3, -0.25, 0.05]]:
        m = sum(x) / len(x)
        num = sum((x[i] - m) * (x[i - 1] - m) for i in range(1, len(x)))
        den = sum((v - m) ** 2 for v in x)
        out.append({"x": x, "r1": num / den})
    return out


def main():
    ref = {
        "generator": "internal/analysis/testdata/reference.py",
        "python": sys.version.split()[0],
        "mpmath": mp.__version__,
        "ttest": [sleep_case()] + logratio_cases(),
        "wilcoxon": wilcoxon_cases(),
        "bootstrap": bootstrap_cases(),
        "sequential": sequential_cases(),
        "lag1": lag1_cases(),
    }
    json.dump(ref, sys.stdout, indent=1, sort_keys=True, allow_nan=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
