"""The ``rebalance:`` and ``augment:`` sections of ``curator.yaml`` (pydantic, unknown keys refused).

Both act on the train split only, after the split. ``augment`` says *how* new rows are made (text
augmenters in a flow, or an image pipeline); ``rebalance`` says *how many* each class gets, and
uses ``augment``'s recipe when it oversamples with ``method: augment``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class TextAugmenterSpec(_Model):
    name: str
    #: Probability that this augmenter touches a row (each row gets at least one augmenter).
    p: float = Field(1.0, gt=0, le=1)
    params: dict[str, Any] = {}

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        from .text import TEXT_AUGMENTERS

        if v not in TEXT_AUGMENTERS:
            raise ValueError(f"unknown text augmenter {v!r}; valid: {', '.join(sorted(TEXT_AUGMENTERS))}")
        return v

    @model_validator(mode="after")
    def _params(self) -> "TextAugmenterSpec":
        from .text import TEXT_AUGMENTERS

        valid = TEXT_AUGMENTERS[self.name].params()
        unknown = sorted(set(self.params) - set(valid))
        if unknown:
            raise ValueError(f"text augmenter {self.name!r} has no parameter {unknown[0]!r}; "
                             f"valid: {', '.join(valid) or 'none'}")
        return self


class ImageTransformSpec(_Model):
    """One albumentations transform by class name, e.g. ``{name: Rotate, params: {limit: 15, p: 0.5}}``."""

    name: str
    params: dict[str, Any] = {}


class ImageAugmentConfig(_Model):
    #: A named preset (light, medium, heavy), used when ``transforms`` and ``pipeline`` are empty.
    preset: Literal["light", "medium", "heavy"] = "light"
    #: Transforms declared inline; or ``pipeline``: a YAML file holding such a list (relative to the config).
    transforms: list[ImageTransformSpec] = []
    pipeline: str | None = None
    format: Literal["png", "jpeg"] = "png"


def _default_text() -> list[TextAugmenterSpec]:
    return [TextAugmenterSpec(name="keyboard", p=0.5), TextAugmenterSpec(name="word_swap", p=0.5),
            TextAugmenterSpec(name="char_delete", p=0.5)]


class AugmentConfig(_Model):
    #: Add ``copies`` augmented rows per train row (rebalance may use the recipe without this).
    enabled: bool = False
    copies: int = Field(1, ge=1, le=100)
    text: list[TextAugmenterSpec] = Field(default_factory=_default_text)
    image: ImageAugmentConfig = ImageAugmentConfig()
    #: Tries per wanted row when an augmentation is discarded (a rule fails, or an exact duplicate).
    retries: int = Field(3, ge=0, le=20)
    #: Original/augmented pairs shown in the report.
    report_pairs: int = Field(12, ge=0)


class RebalanceConfig(_Model):
    enabled: bool = False
    strategy: Literal["oversample", "undersample", "both"] = "oversample"
    #: Per-class goal: the largest class (max), the median, the smallest (min), or counts per label.
    #: Default: max to oversample, min to undersample, median for both.
    target: Literal["max", "median", "min"] | dict[str, int] | None = None
    #: Instead of ``target``: bring the largest/smallest class ratio down to at most this.
    max_ratio: float | None = Field(None, ge=1)
    #: How oversampling makes rows: augmentation (the ``augment:`` recipe) or plain duplicates.
    method: Literal["augment", "duplicate"] = "augment"
    #: Labels that hold lists (JSON arrays such as ["a","b"]): rebalanced by label frequency.
    multi_label: Literal["auto", "yes", "no"] = "auto"

    @model_validator(mode="after")
    def _one_goal(self) -> "RebalanceConfig":
        if self.target is not None and self.max_ratio is not None:
            raise ValueError("give either target or max_ratio, not both")
        if isinstance(self.target, dict) and any(v < 0 for v in self.target.values()):
            raise ValueError("target counts must be >= 0")
        return self
