"""The validate step: declarative rule sets (``rules/*.yaml``) applied to the whole table.

A rule set is a YAML file::

    rules:
      - check: min_length        # a registered check (curator.checks)
        field: text              # a column: text, image, label, or any metadata column
        params: {chars: 3}
        severity: error          # error drops the row, warn flags it

``error`` drops the row with reason ``rule:<check>``; ``warn`` keeps it and flags it. Config-level
label checks come first: a label outside ``labels:`` is dropped as ``unknown_label`` (with the
nearest known label as a hint) and a missing label as ``missing_label``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from . import checks
from .errors import RuleError
from .ledger import decisions
from .steps import Context, Step, StepResult
from .table import ID, LABEL, isin

#: Bare rule-set names (``text-classification``) are looked up here.
RULES_DIR = Path(__file__).resolve().parent.parent / "rules"


class _RuleModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    check: str
    field: str
    params: dict[str, Any] = {}
    severity: Literal["error", "warn"] = "error"


class _RuleFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rules: list[_RuleModel]


@dataclass(frozen=True)
class Rule:
    check: checks.Check
    field: str
    params: dict[str, Any]
    severity: str
    where: str  # "rules/text.yaml: rule 2 (min_length)", for messages

    @property
    def reason(self) -> str:
        return f"rule:{self.check.name}"


def resolve_rule_path(name: str, base_dir: Path) -> Path:
    path = Path(name)
    candidates = [path if path.is_absolute() else base_dir / path]
    if path.suffix == "" and len(path.parts) == 1:
        candidates.append(RULES_DIR / f"{name}.yaml")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise RuleError(f"rule set {name!r} not found (looked in {', '.join(str(c) for c in candidates)})")


def load_rules(path: Path) -> list[Rule]:
    """Parse one rule file, naming the file and rule position in every error."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise RuleError(f"{path}: not a valid YAML rule set: {err}".split("\n")[0]) from None
    try:
        parsed = _RuleFile.model_validate(data if data is not None else {})
    except ValidationError as err:
        first = err.errors()[0]
        loc = list(first["loc"])
        where = f"rule {loc[1] + 1}" if len(loc) > 1 and loc[0] == "rules" and isinstance(loc[1], int) else "top level"
        key = ".".join(str(p) for p in loc[2:] if not isinstance(p, int)) or ".".join(str(p) for p in loc)
        msg = "unknown key" if first["type"] == "extra_forbidden" else first["msg"].removeprefix("Value error, ")
        raise RuleError(f"{path}: {where}: {key}: {msg}; a rule has keys check, field, params, severity") from None
    rules = []
    for i, r in enumerate(parsed.rules, start=1):
        where = f"{path}: rule {i} ({r.check})"
        chk = checks.get_check(r.check, f"{path}: rule {i}")
        checks.validate_params(chk, r.params, where)
        rules.append(Rule(chk, r.field, dict(r.params), r.severity, where))
    return rules


def _first_true(masks: list[np.ndarray], n: int) -> np.ndarray:
    """Index of the first True mask per row, or -1."""
    if not masks:
        return np.full(n, -1)
    stack = np.vstack(masks)
    return np.where(stack.any(axis=0), stack.argmax(axis=0), -1)


class ValidateStep(Step):
    name = "validate"

    def __init__(self, rules: list[Rule], labels: list[str] | None, require_label: bool) -> None:
        self.rules, self.labels, self.require_label = rules, labels, require_label

    @classmethod
    def from_config(cls, cfg) -> "ValidateStep":
        rules = [r for name in cfg.rules for r in load_rules(resolve_rule_path(name, cfg.base_dir))]
        return cls(rules, cfg.labels, cfg.steps.validate_.require_label)

    def apply(self, table: pd.DataFrame, ctx: Context) -> StepResult:
        n = len(table)
        reasons, masks, details = [], [], []

        label = table[LABEL]
        if self.require_label:
            reasons.append("missing_label")
            masks.append(label.isna().to_numpy())
            details.append(pd.Series("the row has no label", index=table.index))
        if self.labels is not None:
            known = set(self.labels)
            unknown = pd.Series(label.notna().to_numpy() & ~isin(label, known), index=label.index)
            reasons.append("unknown_label")
            masks.append(unknown.to_numpy())
            details.append(self._unknown_label_detail(label, unknown))

        flag_reasons, flag_masks, flag_details = [], [], []
        for rule in self.rules:
            if rule.field not in table.columns:
                raise RuleError(f"{rule.where}: field {rule.field!r} is not a column; "
                                f"columns are: {', '.join(map(str, table.columns))}")
            failed, detail = rule.check(table[rule.field], table, rule.params)
            detail = detail if isinstance(detail, pd.Series) else pd.Series(detail or rule.check.doc, index=table.index)
            target = (reasons, masks, details) if rule.severity == "error" else (flag_reasons, flag_masks, flag_details)
            target[0].append(rule.reason)
            target[1].append(failed.to_numpy())
            target[2].append(detail)

        dropped = self._decide(table, reasons, masks, details)
        keep = ~isin(table[ID], dropped["id"])
        flagged = self._decide(table, flag_reasons, [m & keep for m in flag_masks], flag_details)
        return StepResult(dropped=dropped, flagged=flagged)

    @staticmethod
    def _decide(table: pd.DataFrame, reasons: list[str], masks: list[np.ndarray],
                details: list[pd.Series]) -> pd.DataFrame:
        """One decision per row: the first failing rule gives the reason and detail."""
        first = _first_true(masks, len(table))
        hit = first >= 0
        if not hit.any():
            return decisions([], None)
        which = first[hit]
        detail = np.empty(hit.sum(), dtype=object)
        for i, d in enumerate(details):
            sel = which == i
            if sel.any():
                detail[sel] = d.to_numpy()[hit][sel]
        return decisions(table[ID].to_numpy()[hit], np.asarray(reasons, dtype=object)[which], detail)

    def _unknown_label_detail(self, label: pd.Series, unknown: pd.Series) -> pd.Series:
        """'label 'biling' is not in the label list (did you mean 'billing'?)' - per distinct label."""
        detail = pd.Series(None, index=label.index, dtype=object)
        if not unknown.any():
            return detail
        lookup = {str(k).strip().lower(): k for k in self.labels}
        hints = {}
        for value in label[unknown].unique():  # distinct labels only: a handful, not a row loop
            near = difflib.get_close_matches(str(value).strip().lower(), list(lookup), n=1, cutoff=0.6)
            hint = f" (did you mean {lookup[near[0]]!r}?)" if near else ""
            hints[value] = f"label {value!r} is not in the label list{hint}"
        detail[unknown] = label[unknown].map(hints)
        return detail
