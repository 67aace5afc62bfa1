"""Label Studio labelling configs: generated from the label list and modality, and read back.

A generated config shows the row (``$text`` or ``$image``), a header with why the row is there
(``$curator_note``: the flag reason, empty for plain rows) and one ``Choices`` control named
``label``: radio buttons, or check boxes for multi-label data.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

from .errors import LabelMismatchError

CONTROL = "label"
NOTE = "curator_note"


@dataclass(frozen=True)
class LabelSpace:
    """What a project labels: the object (``text``/``image``) and its choices control."""

    modality: str  # text | image
    labels: tuple[str, ...]
    multi_label: bool = False
    from_name: str = CONTROL
    to_name: str = ""  # the object tag's name; defaults to the modality
    value_key: str = ""  # the task data key the object reads; defaults to the modality

    @property
    def object_name(self) -> str:
        return self.to_name or self.modality

    @property
    def data_key(self) -> str:
        return self.value_key or self.modality

    def result(self, label: str) -> list[dict]:
        """An annotation/prediction ``result`` choosing ``label`` (``a|b`` for several)."""
        choices = label.split("|") if self.multi_label else [label]
        return [{"from_name": self.from_name, "to_name": self.object_name, "type": "choices",
                 "value": {"choices": choices}}]


def generate(space: LabelSpace) -> str:
    """The XML config for a label space."""
    if space.modality not in ("text", "image"):
        raise ValueError(f"expected modality 'text' or 'image', got {space.modality!r}")
    if not space.labels:
        raise ValueError("expected at least one label")
    obj = (f'  <Text name="{space.object_name}" value="${space.data_key}"/>' if space.modality == "text"
           else f'  <Image name="{space.object_name}" value="${space.data_key}" zoom="true"/>')
    kind = "multiple" if space.multi_label else "single-radio"
    choices = "\n".join(f"    <Choice value={quoteattr(label)}/>" for label in space.labels)
    return (f'<View>\n  <Header value="${NOTE}" size="6"/>\n{obj}\n'
            f'  <Choices name="{space.from_name}" toName="{space.object_name}" choice="{kind}" showInline="true">\n'
            f"{choices}\n  </Choices>\n</View>\n")


def parse(xml: str, title: str = "project") -> LabelSpace:
    """The label space of an existing project's config (its first Choices control)."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as err:
        raise LabelMismatchError(f"project {title!r}: its labelling config is not valid XML ({err})") from None
    objects = {el.get("name"): el for el in root.iter() if el.tag in ("Text", "Image", "HyperText")}
    control = next(iter(root.iter("Choices")), None)
    if control is None:
        raise LabelMismatchError(f"project {title!r}: its labelling config has no <Choices> control, "
                                 "so it does not classify")
    obj = objects.get(control.get("toName"))
    if obj is None:
        raise LabelMismatchError(f"project {title!r}: its <Choices> control points at "
                                 f"{control.get('toName')!r}, which is not a Text or Image tag")
    labels = tuple(c.get("value") or c.get("alias") for c in control.iter("Choice"))
    return LabelSpace(modality="image" if obj.tag == "Image" else "text", labels=labels,
                      multi_label=control.get("choice") == "multiple", from_name=control.get("name") or CONTROL,
                      to_name=obj.get("name") or "", value_key=(obj.get("value") or "").lstrip("$"))


def check_compatible(project: LabelSpace, needed: LabelSpace, title: str) -> None:
    """The project can hold the dataset: same modality, and every dataset label is a choice."""
    if project.modality != needed.modality:
        raise LabelMismatchError(f"project {title!r} labels {project.modality} but the dataset is "
                                 f"{needed.modality}; choose another --project title")
    missing = [label for label in needed.labels if label not in project.labels]
    if missing:
        raise LabelMismatchError(
            f"project {title!r} offers labels {_short(project.labels)} but the dataset has "
            f"{_short(needed.labels)}: missing {_short(missing)}; add them to the project's labelling config "
            "or choose another --project title")
    if needed.multi_label and not project.multi_label:
        raise LabelMismatchError(f"project {title!r} allows one choice per task but the dataset is multi-label")


def _short(labels: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(labels[:limit])
    return f"[{shown}{', ...' if len(labels) > limit else ''}]"
