"""Benchmark: near-duplicate text detection, curator against datasketch's idiomatic pipeline.

One generated corpus (100-word documents over a 50,000-word vocabulary, so unrelated documents
share no 5-word shingle; 20% of documents are planted copies of another with 1 to 20 of their 100
words replaced), 5-word shingles, 128 permutations, threshold 0.8. Prints one JSON object:

- ``curator``: docs/s from raw text to clusters (signatures on 2 threads + LSH + verification +
  connected components), the time of each stage, and peak RSS of that process;
- ``datasketch``: the same documents through ``MinHash.bulk`` (default SHA-1 hash),
  ``MinHashLSH`` insert then query, then the same connected components; docs/s;
- ``speedup``: curator docs/s over datasketch docs/s;
- ``quality``: precision and recall at 0.8 against exact Jaccard on the same shingle sets, for
  curator (estimated and exact verification, two band weightings) and for datasketch's
  unverified LSH answers. Truth = every pair inside a planted group (a document and its copies)
  whose exact Jaccard >= 0.8, plus a sample of random pairs (exact all-pairs is n**2 / 2;
  unrelated documents share no shingle, and the sample checks that);
- ``containment``: planted partial copies (a third to all of a 100-word document pasted inside
  300 other words), found by containment >= 0.8 (signatures, shingle sets, LSH Ensemble
  candidates, exact check) versus exact containment; how many Jaccard finds; and the rate of
  the numpy ensemble against datasketch's ``MinHashLSHEnsemble`` on a 2,000-row corpus.

Each measurement runs in its own process, so its peak memory is its own.

    python bench/dedup_text.py                       # 100k documents
    python bench/dedup_text.py --docs 1000000 --datasketch-docs 100000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

WORDS, VOCAB, THRESHOLD, NUM_PERM = 100, 50_000, 0.8, 128


def vocabulary(rng: np.random.Generator, size: int = VOCAB) -> np.ndarray:
    """Distinct lower-case pseudo-words of 3 to 10 letters."""
    letters = rng.integers(97, 123, size=(size * 2, 10), dtype=np.uint8)
    lengths = rng.integers(3, 11, size=size * 2)
    words = np.unique([bytes(row[:k]).decode() for row, k in zip(letters, lengths)])
    return rng.permutation(words)[:size].astype(object)


def corpus(n: int, seed: int = 0, planted: float = 0.2) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(texts, group of each text, words edited in each text). A group is an original and its copies."""
    rng = np.random.default_rng(seed)
    vocab = vocabulary(rng)
    copies = int(n * planted)
    originals = n - copies
    idx = rng.integers(0, len(vocab), size=(n, WORDS))
    source = rng.integers(0, originals, size=copies)
    edits = rng.integers(1, 21, size=copies)
    idx[originals:] = idx[source]
    ranks = np.argsort(rng.random((copies, WORDS)), axis=1).argsort(axis=1)
    mask = ranks < edits[:, None]
    idx[originals:][mask] = rng.integers(0, len(vocab), size=int(mask.sum()))
    group = np.r_[np.arange(originals), source]
    edited = np.r_[np.zeros(originals, dtype=np.int64), edits]
    order = rng.permutation(n)
    words = vocab[idx[order]]
    return [" ".join(row) for row in words], group[order], edited[order]


def contained_corpus(n_pairs: int, n_noise: int, seed: int = 1) -> tuple[list[str], np.ndarray]:
    """Short rows, long rows that hold a third to all of one short row, and unrelated rows.
    Returns the texts and the planted (short, long) row pairs."""
    rng = np.random.default_rng(seed)
    vocab = vocabulary(rng)
    short = rng.integers(0, len(vocab), size=(n_pairs, WORDS))
    texts = [" ".join(vocab[row]) for row in short]
    for i in range(n_pairs):
        k = int(rng.integers(WORDS // 3, WORDS + 1))
        start = int(rng.integers(0, WORDS - k + 1))
        pad = rng.integers(0, len(vocab), size=300)
        texts.append(" ".join(np.r_[vocab[pad[:150]], vocab[short[i, start:start + k]], vocab[pad[150:]]]))
    texts += [" ".join(vocab[rng.integers(0, len(vocab), size=WORDS)]) for _ in range(n_noise)]
    return texts, np.c_[np.arange(n_pairs), np.arange(n_pairs, 2 * n_pairs)]


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def group_pairs(group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (i < j) pair of rows with the same group."""
    order = np.argsort(group, kind="stable")
    g = group[order]
    start = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    size = np.diff(np.r_[start, g.size])
    left, right = [], []
    for s in range(2, int(size.max(initial=1)) + 1):
        members = order[start[size == s, None] + np.arange(s)]
        for a in range(s):
            for b in range(a + 1, s):
                left.append(members[:, a])
                right.append(members[:, b])
    if not left:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    left, right = np.concatenate(left), np.concatenate(right)
    return np.minimum(left, right), np.maximum(left, right)


def scores(found: set, truth: set, exact_of_found: np.ndarray) -> dict:
    """Precision: the share of found pairs whose exact similarity reaches the threshold.
    Recall: the share of truth pairs found."""
    precision = float((exact_of_found >= THRESHOLD).mean()) if len(exact_of_found) else float("nan")
    recall = len(found & truth) / len(truth) if truth else float("nan")
    return {"pairs": len(found), "precision": round(precision, 4), "recall": round(recall, 4)}


def truth_pairs(texts: list[str], group: np.ndarray, sample: int = 200_000) -> tuple[set, dict, object]:
    from curator.near.shingle import shingle_sets
    from curator.near.shingle_sets import jaccard

    sets = shingle_sets(texts)
    left, right = group_pairs(group)
    exact = jaccard(sets, left, sets, right)
    truth = set(zip(left[exact >= THRESHOLD].tolist(), right[exact >= THRESHOLD].tolist()))
    rng = np.random.default_rng(7)
    a, b = rng.integers(0, len(texts), size=(2, sample))
    keep = (a != b) & (group[a] != group[b])
    random_j = jaccard(sets, a[keep], sets, b[keep])
    info = {"group_pairs": len(left), "truth_pairs": len(truth), "random_pairs_sampled": int(keep.sum()),
            "random_pairs_at_or_above_threshold": int((random_j >= THRESHOLD).sum()),
            "random_pairs_max_jaccard": round(float(random_j.max(initial=0)), 4)}
    return truth, info, sets


def run_curator(n: int, workers: int) -> dict:
    from curator.near.lsh import near_duplicates
    from curator.near.minhash import MinHashParams, signatures
    from curator.near.shingle_sets import jaccard

    texts, group, _ = corpus(n)
    params = MinHashParams(num_perm=NUM_PERM)
    load = os.getloadavg()[0]
    start = time.perf_counter()
    cpu = time.process_time()
    sigs = signatures(texts, params, workers=workers)
    mid = time.perf_counter()
    result = near_duplicates(sigs, THRESHOLD, texts=texts)
    total = time.perf_counter() - start
    cpu = time.process_time() - cpu
    out = {"docs": n, "workers": workers, "load_average_at_start": round(load, 2), "seconds": round(total, 3),
           "docs_per_s": round(n / total), "cpu_seconds": round(cpu, 3), "docs_per_cpu_second": round(n / cpu),
           "stages_seconds": {"signatures": round(mid - start, 3),
                              "lsh_verify_cluster": round(total - (mid - start), 3)},
           "bands": list(result.bands), "candidate_pairs": len(result.pairs),
           "verified_pairs": int(result.pairs["verified"].sum()),
           "clusters": int((np.bincount(result.cluster) > 1).sum()), "peak_rss_mb": peak_rss_mb()}
    t = time.perf_counter()
    signatures(texts, params, workers=1)
    out["signatures_seconds_1_worker"] = round(time.perf_counter() - t, 3)
    truth, info, sets = truth_pairs(texts, group)
    quality = {"truth": info}
    for name, kwargs in [("estimated, weights (0.5, 0.5)", {"weights": (0.5, 0.5)}),
                         ("exact, weights (0.5, 0.5)", {"weights": (0.5, 0.5), "texts": texts}),
                         ("estimated, weights (0.05, 0.95)", {}),
                         ("exact, weights (0.05, 0.95) [timed default]", {"texts": texts})]:
        res = near_duplicates(sigs, THRESHOLD, **kwargs)
        v = res.verified
        left, right = v["left"].to_numpy(), v["right"].to_numpy()
        quality[name] = scores(set(zip(left.tolist(), right.tolist())), truth, jaccard(sets, left, sets, right))
        quality[name]["bands"] = list(res.bands)
    out["quality"] = quality
    return out


def run_datasketch(n: int) -> dict:
    from datasketch import MinHash, MinHashLSH

    from curator.near.clusters import components
    from curator.near.shingle_sets import jaccard

    texts, group, _ = corpus(n)
    load = os.getloadavg()[0]
    start = time.perf_counter()
    cpu = time.process_time()
    shingled = []
    for text in texts:
        tokens = text.lower().split()
        shingled.append([" ".join(tokens[i:i + 5]).encode("utf8") for i in range(max(len(tokens) - 4, 1))])
    sketches = MinHash.bulk(shingled, num_perm=NUM_PERM)
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    for i, m in enumerate(sketches):
        lsh.insert(i, m, check_duplication=False)
    left, right = [], []
    for i, m in enumerate(sketches):
        for j in lsh.query(m):
            if j > i:
                left.append(i)
                right.append(j)
    left, right = np.asarray(left, dtype=np.int64), np.asarray(right, dtype=np.int64)
    labels = components(n, left, right)
    total = time.perf_counter() - start
    cpu = time.process_time() - cpu
    out = {"docs": n, "load_average_at_start": round(load, 2), "seconds": round(total, 3),
           "docs_per_s": round(n / total), "cpu_seconds": round(cpu, 3), "docs_per_cpu_second": round(n / cpu),
           "pairs": len(left),
           "clusters": int((np.bincount(labels) > 1).sum()), "peak_rss_mb": peak_rss_mb()}
    truth, _, sets = truth_pairs(texts, group)
    out["quality_unverified_lsh"] = scores(set(zip(left.tolist(), right.tolist())), truth,
                                           jaccard(sets, left, sets, right))
    return out


def run_containment(n_pairs: int, n_noise: int) -> dict:
    from curator.near.containment import contained_duplicates
    from curator.near.lsh import near_duplicates
    from curator.near.minhash import signatures
    from curator.near.shingle import shingle_sets
    from curator.near.shingle_sets import containment

    texts, planted = contained_corpus(n_pairs, n_noise)
    start = time.perf_counter()
    sigs = signatures(texts)
    sets = shingle_sets(texts)
    result = contained_duplicates(sigs, sets, THRESHOLD)
    seconds = time.perf_counter() - start
    exact = containment(sets, planted[:, 0], sets, planted[:, 1])
    truth = set(map(tuple, planted[exact >= THRESHOLD].tolist()))
    v = result.verified
    left, right = v["left"].to_numpy(), v["right"].to_numpy()
    found = set(zip(left.tolist(), right.tolist()))
    jac = near_duplicates(sigs, THRESHOLD).verified
    small, _ = contained_corpus(400, 1200, seed=2)  # datasketch's own ensemble, on 2,000 rows
    small_sigs, small_sets = signatures(small), shingle_sets(small)
    t = time.perf_counter()
    contained_duplicates(small_sigs, small_sets, THRESHOLD, engine="datasketch")
    ds_rate = len(small) / (time.perf_counter() - t)
    t = time.perf_counter()
    contained_duplicates(small_sigs, small_sets, THRESHOLD)
    np_rate = len(small) / (time.perf_counter() - t)
    return {"rows": len(texts), "planted_pairs": n_pairs, "truth_pairs": len(truth), "seconds": round(seconds, 3),
            "rows_per_s": round(len(texts) / seconds),
            "containment": scores(found, truth, containment(sets, left, sets, right)),
            "found_by_jaccard_0.8": len(truth & set(zip(jac["left"].tolist(), jac["right"].tolist()))),
            "ensemble_rows_per_s_on_2000_rows": {"numpy": round(np_rate), "datasketch": round(ds_rate)}}


def child(args: list[str]) -> dict:
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--datasketch-docs", type=int, default=None,
                        help="datasketch on a corpus of N docs (same generator)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--containment-pairs", type=int, default=5_000)
    parser.add_argument("--part", choices=["curator", "datasketch", "containment"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part == "curator":
        print(json.dumps(run_curator(args.docs, args.workers)))
        return
    if args.part == "datasketch":
        print(json.dumps(run_datasketch(args.docs)))
        return
    if args.part == "containment":
        print(json.dumps(run_containment(args.containment_pairs, 3 * args.containment_pairs)))
        return
    ds_docs = min(args.docs, args.datasketch_docs or args.docs)
    ours = child(["--part", "curator", "--docs", str(args.docs), "--workers", str(args.workers)])
    theirs = child(["--part", "datasketch", "--docs", str(ds_docs)])
    contained = child(["--part", "containment", "--containment-pairs", str(args.containment_pairs)])
    print(json.dumps({"cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()],
                      "threshold": THRESHOLD,
                      "num_perm": NUM_PERM, "shingle": "5 words", "curator": ours, "datasketch": theirs,
                      "speedup": round(ours["docs_per_s"] / theirs["docs_per_s"], 2),
                      "containment": contained}, indent=2))


if __name__ == "__main__":
    main()
