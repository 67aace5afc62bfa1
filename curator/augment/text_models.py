"""The model-backed text augmenters, adapted where nlpaug 1.1.11 and today's libraries disagree.

- WordNet synonyms: nlpaug downloads a missing corpus at run time; here a missing corpus is a
  :class:`MissingResourceError` that says how to install it. nlpaug also needs NLTK's POS tagger
  (another download); without one, every sense of a word is a candidate, and only words WordNet
  knows are picked, so a substitution always happens when one is possible.
- Contextual substitution: nlpaug's BERT/RoBERTa/DistilBERT wrappers call the slow tokenizers'
  private ``_convert_token_to_id``, which transformers 5 removed; the subclasses below use the public
  ``convert_tokens_to_ids`` / ``convert_ids_to_tokens`` instead, and everything else is nlpaug's.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import MissingResourceError

WORDNET_HINT = "python -m nltk.downloader wordnet omw-1.4"


def wordnet_augmenter(aug_p: float):
    """nlpaug's SynonymAug over WordNet, or a one-line error naming the install command."""
    import nltk

    try:
        nltk.data.find("corpora/wordnet")
    except LookupError:
        raise MissingResourceError(f"synonym augmenter: the NLTK WordNet corpus is not installed; "
                                   f"install it with: {WORDNET_HINT}") from None
    from nlpaug.augmenter.word import SynonymAug

    class WordNetSynonyms(SynonymAug):
        def __init__(self, **kwargs) -> None:
            super().__init__(**kwargs)
            self.model.pos_tag = _pos_tag

        def skip_aug(self, token_idxes, tokens):
            keep = super().skip_aug(token_idxes, tokens)
            return [i for i in keep if any(c.lower() != tokens[i][0].lower() for c in self.model.predict(tokens[i][0]))]

    return WordNetSynonyms(aug_src="wordnet", aug_p=aug_p)


def _pos_tag(tokens: list[str]) -> list[tuple[str, str]]:
    """NLTK's tags when its tagger is installed; otherwise no tag (every WordNet sense qualifies)."""
    import nltk

    try:
        nltk.data.find("taggers/averaged_perceptron_tagger_eng")
    except LookupError:
        return [(t, "") for t in tokens]
    return nltk.pos_tag(tokens)


def _public_token_ids(base: type) -> type:
    """``base`` (an nlpaug language model) with token/id lookups through the public tokenizer API."""
    class Adapted(base):
        def token2id(self, token):
            return self.tokenizer.convert_tokens_to_ids(token)

        def id2token(self, _id):
            return self.tokenizer.convert_ids_to_tokens(_id)

    Adapted.__name__ = base.__name__
    return Adapted


def _model_source(model: str, what: str) -> str:
    """A local directory as is; a hub name as is; a path that is not a directory is an error now."""
    looks_local = model.startswith((".", "/", "~")) or model.count("/") > 1  # a hub name is "org/name"
    path = Path(model).expanduser()
    if path.is_dir():
        return str(path)
    if looks_local or path.exists():
        raise MissingResourceError(f"{what}: model {model!r} is not a directory with a saved model")
    return model


def load_or_explain(loader, model: str, what: str):
    """Run a transformers loader quietly (the library prints nothing of its own); turn its not-found
    errors into one line naming the model."""
    from transformers.utils import logging as hf_logging

    level, bars_on = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        return loader()
    except OSError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise MissingResourceError(f"{what}: cannot load model {model!r} (a hub name needs network access or "
                                   f"a cached copy; or give a local path): {first}") from None
    finally:
        hf_logging.set_verbosity(level)
        if bars_on:
            hf_logging.enable_progress_bar()


def contextual_augmenter(model: str, model_type: str, *, aug_p: float, top_k: int, device: str, batch_size: int):
    """nlpaug's ContextualWordEmbsAug on transformers 5 (see the module docstring)."""
    import nlpaug.model.lang_models as nml
    from nlpaug.augmenter.word import ContextualWordEmbsAug

    kinds = {"bert": nml.Bert, "distilbert": nml.DistilBert, "roberta": nml.Roberta}
    if model_type not in kinds:
        raise MissingResourceError(f"contextual augmenter: model_type {model_type!r} is not supported; "
                                   f"valid: {', '.join(kinds)}")
    source = _model_source(model, "contextual augmenter")
    adapted = _public_token_ids(kinds[model_type])

    class Contextual(ContextualWordEmbsAug):
        @classmethod
        def get_model(cls, model_path, model_type, device="cpu", force_reload=False, batch_size=32, top_k=None,
                      silence=True, use_custom_api=True):
            return load_or_explain(lambda: adapted(model_path, device=device, top_k=top_k, silence=silence,
                                                   batch_size=batch_size), model, "contextual augmenter")

    return Contextual(model_path=source, model_type=model_type, aug_p=aug_p, top_k=top_k, device=device,
                      batch_size=batch_size)


def back_translation_augmenter(from_model: str, to_model: str, *, device: str, batch_size: int, max_length: int):
    """nlpaug's BackTranslationAug with both models checked first (local paths or hub names)."""
    from nlpaug.augmenter.word import BackTranslationAug

    sources = [_model_source(m, "back_translation augmenter") for m in (from_model, to_model)]
    return load_or_explain(lambda: BackTranslationAug(from_model_name=sources[0], to_model_name=sources[1],
                                                      device=device, batch_size=batch_size, max_length=max_length,
                                                      force_reload=True),
                           f"{from_model} / {to_model}", "back_translation augmenter")
