"""Text augmenters (nlpaug), by name, and a flow that chains them with probabilities.

Every augmenter is a registered builder: ``name -> function(params) -> nlpaug augmenter``. The
config maps a name to its parameters (``{name: keyboard, p: 0.5, params: {aug_char_p: 0.1}}``); an
unknown name or parameter is a one-line error that lists the valid ones.

The flow is ours rather than nlpaug's ``Sometimes``: for each augmenter it draws, with a seeded
generator, which rows it touches, then calls nlpaug once on that whole batch (nlpaug's ``augment``
takes lists). So every row knows which augmenters changed it (the ledger records them), the
batches stay large, and the same seed gives the same texts. nlpaug draws from Python's and numpy's
global generators, so each call runs inside :func:`seeded`, which restores them afterwards.
"""

from __future__ import annotations

import contextlib
import inspect
import random
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from .text_models import back_translation_augmenter, contextual_augmenter, wordnet_augmenter

SPELLING_DICT = "res/word/spelling/spelling_en.txt"  # ships inside nlpaug


@dataclass(frozen=True)
class TextAugmenter:
    name: str
    build: Callable[..., Any]  # keyword params (and ``train_texts`` when it declares it) -> augmenter
    doc: str

    def params(self) -> dict[str, Any]:
        """The parameters a config may set, with their defaults."""
        return {k: p.default for k, p in inspect.signature(self.build).parameters.items() if k != "train_texts"}


TEXT_AUGMENTERS: dict[str, TextAugmenter] = {}


def text_augmenter(name: str) -> Callable:
    """Register a builder under ``name``; its docstring's first line is what the report shows."""
    def register(fn: Callable) -> Callable:
        if name in TEXT_AUGMENTERS:
            raise ValueError(f"text augmenter {name!r} is registered twice")
        TEXT_AUGMENTERS[name] = TextAugmenter(name, fn, (fn.__doc__ or name).strip().splitlines()[0])
        return fn
    return register


def _nac():
    import nlpaug.augmenter.char as nac
    return nac


def _naw():
    import nlpaug.augmenter.word as naw
    return naw


@text_augmenter("keyboard")
def _keyboard(aug_char_p: float = 0.1, aug_word_p: float = 0.1, aug_word_max: int = 10):
    """Typos from neighbouring keys on a QWERTY keyboard."""
    return _nac().KeyboardAug(aug_char_p=aug_char_p, aug_word_p=aug_word_p, aug_word_max=aug_word_max,
                              include_special_char=False, include_numeric=False)


@text_augmenter("ocr")
def _ocr(aug_char_p: float = 0.2, aug_word_p: float = 0.2, aug_word_max: int = 10):
    """OCR confusions (0 for o, 1 for l, 5 for S ...)."""
    return _nac().OcrAug(aug_char_p=aug_char_p, aug_word_p=aug_word_p, aug_word_max=aug_word_max)


def _random_char(action: str, aug_char_p: float, aug_word_p: float):
    return _nac().RandomCharAug(action=action, aug_char_p=aug_char_p, aug_word_p=aug_word_p, min_char=3)


@text_augmenter("char_insert")
def _char_insert(aug_char_p: float = 0.1, aug_word_p: float = 0.1):
    """Random characters inserted into words."""
    return _random_char("insert", aug_char_p, aug_word_p)


@text_augmenter("char_swap")
def _char_swap(aug_char_p: float = 0.1, aug_word_p: float = 0.1):
    """Neighbouring characters swapped inside words."""
    return _random_char("swap", aug_char_p, aug_word_p)


@text_augmenter("char_delete")
def _char_delete(aug_char_p: float = 0.1, aug_word_p: float = 0.1):
    """Random characters deleted from words."""
    return _random_char("delete", aug_char_p, aug_word_p)


@text_augmenter("word_swap")
def _word_swap(aug_p: float = 0.1):
    """Neighbouring words swapped."""
    return _naw().RandomWordAug(action="swap", aug_p=aug_p)


@text_augmenter("word_delete")
def _word_delete(aug_p: float = 0.1):
    """Random words deleted."""
    return _naw().RandomWordAug(action="delete", aug_p=aug_p)


@text_augmenter("word_split")
def _word_split(aug_p: float = 0.1, min_char: int = 4):
    """Words split in two at a random point."""
    return _naw().SplitAug(aug_p=aug_p, min_char=min_char)


@text_augmenter("spelling")
def _spelling(aug_p: float = 0.2):
    """Common misspellings, from the spelling dictionary nlpaug ships."""
    import nlpaug

    return _naw().SpellingAug(dict_path=str(Path(nlpaug.__file__).parent / SPELLING_DICT), aug_p=aug_p)


@text_augmenter("tfidf")
def _tfidf(train_texts: Sequence[str], aug_p: float = 0.1, top_k: int = 10):
    """Words replaced by others of similar TF-IDF weight, learnt from the train split itself."""
    from nlpaug.model.word_stats import TfIdf

    model = TfIdf()
    model.train([str(t).split() for t in train_texts])  # nlpaug's own model, trained on our rows
    with tempfile.TemporaryDirectory(prefix="curator-tfidf-") as tmp:
        model.save(tmp)
        return _naw().TfIdfAug(model_path=tmp, action="substitute", aug_p=aug_p, top_k=top_k)


@text_augmenter("synonym")
def _synonym(aug_p: float = 0.2):
    """Words replaced by WordNet synonyms (needs the NLTK WordNet corpus)."""
    return wordnet_augmenter(aug_p)


@text_augmenter("contextual")
def _contextual(model: str = "bert-base-uncased", model_type: str = "bert", aug_p: float = 0.15,
                top_k: int = 20, device: str = "cpu", batch_size: int = 32):
    """Words replaced by a masked language model's guesses in context (hub name or local path)."""
    return contextual_augmenter(model, model_type, aug_p=aug_p, top_k=top_k, device=device, batch_size=batch_size)


@text_augmenter("back_translation")
def _back_translation(from_model: str = "Helsinki-NLP/opus-mt-en-de", to_model: str = "Helsinki-NLP/opus-mt-de-en",
                      device: str = "cpu", batch_size: int = 32, max_length: int = 256):
    """Translated to another language and back by two translation models (hub names or local paths)."""
    return back_translation_augmenter(from_model, to_model, device=device, batch_size=batch_size,
                                      max_length=max_length)


def check_params(name: str, params: dict[str, Any], where: str) -> None:
    """Raise ConfigError (one line) for an unknown augmenter or parameter."""
    if name not in TEXT_AUGMENTERS:
        raise ConfigError(f"{where}: unknown text augmenter {name!r}; valid: {', '.join(sorted(TEXT_AUGMENTERS))}")
    valid = TEXT_AUGMENTERS[name].params()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ConfigError(f"{where}: text augmenter {name!r} has no parameter {unknown[0]!r}; "
                          f"valid: {', '.join(valid) or 'none'}")


def build(name: str, params: dict[str, Any], train_texts: Sequence[str] = ()) -> Any:
    """The nlpaug augmenter for a registered name (parameters are checked first)."""
    check_params(name, params, "augment.text")
    entry = TEXT_AUGMENTERS[name]
    extra = {"train_texts": list(train_texts)} if "train_texts" in inspect.signature(entry.build).parameters else {}
    return entry.build(**params, **extra)


#: The global generators are one per process: batches on the local engine's threads take turns.
_GLOBAL_RNG = threading.RLock()


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed the global generators nlpaug draws from, and put their previous state back after. Holds
    a lock throughout, so two threads never draw from (or reseed) the same generators at once."""
    with _GLOBAL_RNG:
        with _seeded(seed):
            yield


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    py_state, np_state = random.getstate(), np.random.get_state()
    torch_state = None
    try:
        import torch
        torch_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
    except ImportError:  # torch is only needed by the model-based augmenters
        pass
    random.seed(seed)
    np.random.seed(seed % (1 << 32))
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        if torch_state is not None:
            import torch
            torch.random.set_rng_state(torch_state)


@dataclass
class FlowStep:
    name: str
    params: dict[str, Any]
    p: float
    augmenter: Any


@dataclass
class TextFlow:
    """Augmenters applied in order; each touches a row with its probability ``p`` (at least one does)."""

    steps: list[FlowStep] = field(default_factory=list)

    @classmethod
    def from_specs(cls, specs: Sequence[Any], train_texts: Sequence[str] = ()) -> "TextFlow":
        return cls([FlowStep(s.name, {**TEXT_AUGMENTERS[s.name].params(), **s.params}, s.p,
                             build(s.name, dict(s.params), train_texts)) for s in specs])

    def apply(self, texts: Sequence[str], seed: int) -> tuple[np.ndarray, np.ndarray]:
        """(new texts, applied) where ``applied[i, j]`` says augmenter j ran on row i."""
        n, k = len(texts), len(self.steps)
        out = np.asarray(list(texts), dtype=object)
        if n == 0 or k == 0:
            return out, np.zeros((n, k), dtype=bool)
        rng = np.random.default_rng(seed)
        applied = rng.random((n, k)) < np.array([s.p for s in self.steps])
        idle = np.flatnonzero(~applied.any(axis=1))  # every row gets at least one augmenter
        applied[idle, rng.integers(0, k, size=len(idle))] = True
        for j, step in enumerate(self.steps):
            rows = np.flatnonzero(applied[:, j])
            if len(rows) == 0:
                continue
            with seeded(seed * 7919 + j):
                result = step.augmenter.augment([str(t) for t in out[rows]])
            out[rows] = _as_list(result, len(rows), step.name)
        return out, applied


def _as_list(result: Any, n: int, name: str) -> list:
    """nlpaug returns a list for a list input; guard against a short answer rather than misalign rows."""
    values = list(result) if isinstance(result, (list, tuple)) else [result]
    if len(values) != n:
        raise RuntimeError(f"text augmenter {name!r} returned {len(values)} texts for {n}")
    return [v if isinstance(v, str) else ("" if v is None else str(v)) for v in values]
