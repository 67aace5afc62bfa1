"""The validate step: declarative rule sets (``rules/*.yaml``) applied to the whole table.

A rule set is a YAML file::

    include: text-classification     # optional: other rule sets (bare names are looked up in rules/)
    overrides:                        # optional: change single included rules, by name
      min_length: {params: {chars: 20}}
      markup: {severity: fix}
      max_length: {enabled: false}
    rules:
      - check: min_length            # a registered check (curator.checks)
        field: text                  # a column: text, image, label, or any metadata column
        params: {chars: 3}
        severity: error              # error drops the row, warn flags it, fix repairs it
        name: too_short              # optional; the reason code is rule:<name> (default: the check)

``error`` drops the row with reason ``rule:<name>``; ``warn`` keeps it and flags it; ``fix`` runs the
check's fixer on the failing rows, records every changed value (old and new) in the ledger and passes
the repaired table on; a row the fixer cannot repair is flagged. Rules run in order and each sees
the previous rules' fixes. Every error names the rule file, line and rule, and lists what is valid.

Config-level label checks run after the rules (so they see labels a rule fixed) and their reasons
come first: a label outside ``labels:`` is dropped as ``unknown_label``
(with the nearest known label as a hint; or fixed to it, or flagged, per
``steps.validate.unknown_label``) and a missing label as ``missing_label``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from . import checks
from .checks import CheckContext
from .checks_table import suggestions
from .engine import Engine
from .errors import RuleError
from .ledger import decisions, empty_decisions, fixes
from .steps import Context, Step, StepResult
from .table import ID, LABEL, isin

#: Bare rule-set names (``text-classification``) are looked up here.
RULES_DIR = Path(__file__).resolve().parent.parent / "rules"
SEVERITIES = ("error", "warn", "fix")
_RULE_KEYS = "check, field, name, params, severity"
_FILE_KEYS = "include, overrides, rules"
_OVERRIDE_KEYS = "enabled, field, params, severity"
EXAMPLE_CHARS = 200


class _RuleModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    check: str
    field: str | None = None
    params: dict[str, Any] = {}
    severity: Literal["error", "warn", "fix"] = "error"
    name: str | None = None


class _OverrideModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    field: str | None = None
    params: dict[str, Any] | None = None
    severity: Literal["error", "warn", "fix"] | None = None
    enabled: bool = True


class _RuleFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    include: list[str] = []
    overrides: dict[str, _OverrideModel] = {}
    rules: list[_RuleModel] = []

    @field_validator("include", mode="before")
    @classmethod
    def _one_or_many(cls, v):
        return [v] if isinstance(v, str) else v


@dataclass(frozen=True)
class Rule:
    name: str
    check: checks.Check
    field: str | None
    params: dict[str, Any]
    severity: str
    where: str  # "rules/text.yaml:12: rule 2 (min_length)", for messages
    origin: str = ""  # where the rule is defined, by real path (an override keeps its rule's origin)

    @property
    def reason(self) -> str:
        return f"rule:{self.name}"

    def same_as(self, other: "Rule | None") -> bool:
        """The same rule, reached again (through another include or another path to its file)."""
        return other is not None and (self.origin, self.name, self.check.name, self.field, self.params,
                                      self.severity) == (other.origin, other.name, other.check.name, other.field,
                                                         other.params, other.severity)


def resolve_rule_path(name: str, base_dir: Path) -> Path:
    path = Path(name)
    candidates = [path if path.is_absolute() else base_dir / path]
    if path.suffix == "" and len(path.parts) == 1:
        candidates.append(RULES_DIR / f"{name}.yaml")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise RuleError(f"rule set {name!r} not found (looked in {', '.join(str(c) for c in candidates)})")


# -- loading ----------------------------------------------------------------------------------------

@dataclass
class _Lines:
    """Line numbers (1-based) of a rule file's parts, for messages."""

    rules: list[int]
    overrides: dict[str, int]
    include: int | None

    @classmethod
    def of(cls, text: str) -> "_Lines":
        rules: list[int] = []
        overrides: dict[str, int] = {}
        include = None
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError:
            node = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == "rules" and isinstance(value, yaml.SequenceNode):
                    rules = [item.start_mark.line + 1 for item in value.value]
                elif key.value == "overrides" and isinstance(value, yaml.MappingNode):
                    overrides = {k.value: k.start_mark.line + 1 for k, _ in value.value}
                elif key.value == "include":
                    include = key.start_mark.line + 1
        return cls(rules, overrides, include)

    def rule(self, i: int) -> str:
        return f":{self.rules[i]}" if i < len(self.rules) else ""


def _parse_file(path: Path) -> tuple[_RuleFile, _Lines]:
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(err, "problem", None) or str(err).split("\n")[0]
        raise RuleError(f"{where}: not a valid YAML rule set: {problem}") from None
    lines = _Lines.of(text)
    if data is not None and not isinstance(data, dict):
        raise RuleError(f"{path}: top level: expected a mapping with keys {_FILE_KEYS}, got {type(data).__name__}")
    try:
        return _RuleFile.model_validate(data if data is not None else {}), lines
    except ValidationError as err:
        raise RuleError(_validation_message(path, lines, err)) from None


def _validation_message(path: Path, lines: _Lines, err: ValidationError) -> str:
    first = err.errors()[0]
    loc = list(first["loc"])
    msg = "unknown key" if first["type"] == "extra_forbidden" else first["msg"].removeprefix("Value error, ")
    if len(loc) > 1 and loc[0] == "rules" and isinstance(loc[1], int):
        key = ".".join(str(p) for p in loc[2:]) or "rule"
        return f"{path}{lines.rule(loc[1])}: rule {loc[1] + 1}: {key}: {msg}; a rule has keys {_RULE_KEYS}"
    if len(loc) > 1 and loc[0] == "overrides":
        line = lines.overrides.get(str(loc[1]))
        key = ".".join(str(p) for p in loc[2:]) or "override"
        return (f"{path}{f':{line}' if line else ''}: overrides.{loc[1]}: {key}: {msg}; "
                f"an override has keys {_OVERRIDE_KEYS}")
    key = ".".join(str(p) for p in loc)
    return f"{path}: top level: {key}: {msg}; a rule file has keys {_FILE_KEYS}"


def load_rules(path: Path, _stack: tuple[Path, ...] = ()) -> list[Rule]:
    """Parse one rule file (and what it includes), naming the file, line and rule in every error."""
    path = Path(path)
    real = path.resolve()
    if real in _stack:
        chain = " -> ".join(p.name for p in (*_stack, real))
        raise RuleError(f"{path}: include cycle: {chain}")
    parsed, lines = _parse_file(path)

    rules: dict[str, Rule] = {}
    for name in parsed.include:
        where = f"{path}{f':{lines.include}' if lines.include else ''}: include {name!r}"
        try:
            included = load_rules(resolve_rule_path(name, path.parent), (*_stack, real))
        except RuleError as err:
            if "not found" not in str(err):
                raise  # it names its own file and rule
            raise RuleError(f"{where}: {err}") from None
        for rule in included:
            have = rules.get(rule.name)
            if rule.same_as(have):  # the same rule set reached twice (two included sets include it)
                continue
            if have is not None and have.origin == rule.origin:
                raise RuleError(f"{where}: rule {rule.name!r} ({rule.origin}) comes twice, changed differently "
                                f"({have.where} and {rule.where}): one included rule set already includes "
                                "the other; include only the one that changes it")
            if have is not None:
                raise RuleError(f"{where}: rule {rule.name!r} is defined twice ({have.where} and "
                                f"{rule.where}); name one of them differently")
            rules[rule.name] = rule

    for name, override in parsed.overrides.items():
        line = lines.overrides.get(name)
        where = f"{path}{f':{line}' if line else ''}: overrides.{name}"
        if name not in rules:
            raise RuleError(f"{where}: no included rule is named {name!r}; included rules: "
                            f"{', '.join(rules) or 'none (add an include:)'}")
        if not override.enabled:
            del rules[name]
            continue
        base = rules[name]
        params = {**base.params, **(override.params or {})}
        rules[name] = _make_rule(base.check.name, override.field or base.field, params,
                                 override.severity or base.severity, name, where, path.parent, base.origin)

    for i, r in enumerate(parsed.rules):
        name = r.name or r.check
        where = f"{path}{lines.rule(i)}: rule {i + 1} ({name})"
        if not _is_code(name):
            raise RuleError(f"{where}: name {name!r} is not a snake_case reason code")
        if name in rules:
            raise RuleError(f"{where}: another rule is already named {name!r} ({rules[name].where}); give "
                            "this one a different `name:`, or change the included one under `overrides:`")
        chk = checks.get_check(r.check, f"{path}{lines.rule(i)}: rule {i + 1}")
        rules[name] = _make_rule(chk.name, r.field, dict(r.params), r.severity, name, where, path.parent,
                                 f"{real}{lines.rule(i)}: rule {i + 1} ({name})")
    return list(rules.values())


def _is_code(name: str) -> bool:
    return bool(name) and name[0].isalpha() and name.isascii() and name.replace("_", "a").isalnum() \
        and name == name.lower()


def _make_rule(check_name: str, field: str | None, params: dict, severity: str, name: str, where: str,
               base_dir: Path, origin: str | None = None) -> Rule:
    chk = checks.get_check(check_name, where)
    if chk.needs_field and not field:
        raise RuleError(f"{where}: check {chk.name!r} needs a `field:` (the column it checks)")
    if not chk.needs_field and field:
        raise RuleError(f"{where}: check {chk.name!r} works on whole rows and takes no `field:`")
    if severity == "fix" and chk.fix is None:
        raise RuleError(f"{where}: check {chk.name!r} cannot fix values, so severity 'fix' is not possible; "
                        f"checks that can fix: {', '.join(checks.fixable())}")
    checks.validate_params(chk, params, where)
    params = checks.resolve_paths(chk, params, base_dir, where)
    return Rule(name, chk, field, params, severity, where, origin or where)


def combine_rule_sets(sets: list[tuple[str, list[Rule]]]) -> list[Rule]:
    """The rules of the config's rule sets, in order; a rule two of them include is run once."""
    out: list[Rule] = []
    for set_name, rules in sets:
        for rule in rules:
            twin = next((r for r in out if r.origin == rule.origin), None)  # a few dozen rules
            if rule.same_as(twin):
                continue
            if twin is not None:
                raise RuleError(f"rules: {set_name!r}: rule {rule.name!r} ({rule.origin}) is already in an earlier "
                                f"rule set, changed differently ({twin.where} and {rule.where}): one rule set "
                                "includes the other; list only the one that changes it")
            out.append(rule)
    return out


# -- applying ---------------------------------------------------------------------------------------

def _first_true(masks: list[np.ndarray], n: int) -> np.ndarray:
    """Index of the first True mask per row, or -1."""
    if not masks:
        return np.full(n, -1)
    stack = np.vstack(masks)
    return np.where(stack.any(axis=0), stack.argmax(axis=0), -1)


def _detail_series(detail, rule_doc: str, index: pd.Index) -> pd.Series:
    if isinstance(detail, pd.Series):
        return detail.reindex(index)
    return pd.Series(detail if detail is not None else rule_doc, index=index, dtype=object)


def _same(before: pd.Series, after: pd.Series) -> pd.Series:
    b, a = before.astype(object), after.astype(object)
    both_missing = b.isna() & a.isna()
    return both_missing | (b.eq(a) & b.notna() & a.notna())


def _set_values(table: pd.DataFrame, index: pd.Index, column: str, values: pd.Series) -> None:
    """Write fixed values into ``table`` (widening the column's dtype if the values need it)."""
    if column not in table:
        table[column] = pd.Series(None, index=table.index, dtype=object)
    try:
        table.loc[index, column] = values.to_numpy(dtype=object)
    except (TypeError, ValueError):
        table[column] = table[column].astype(object)
        table.loc[index, column] = values.to_numpy(dtype=object)


def short_values(values: pd.Series, chars: int = EXAMPLE_CHARS) -> list:
    """JSON-friendly values for the report, text cut to ``chars`` characters."""
    out = []
    for v in values.tolist():  # a handful of examples
        if v is None or (isinstance(v, float) and np.isnan(v)):
            out.append(None)
        elif isinstance(v, int | float | bool) and not isinstance(v, np.generic):
            out.append(v)
        else:
            text = v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
            out.append(text if len(text) <= chars else text[:chars] + "…")
    return out


def _check_batch(rule: Rule, cctx: CheckContext, batch: pd.DataFrame) -> pd.DataFrame:
    """A rule's verdict on one batch of rows (the batch function engines run): ``failed``, ``detail``."""
    values = batch[rule.field] if rule.field is not None else None
    try:
        failed, detail = rule.check(values, batch, rule.params, cctx)
    except RuleError as err:
        raise RuleError(f"{rule.where}: {err}") from None
    return pd.DataFrame({"failed": failed.reindex(batch.index, fill_value=True),
                         "detail": _detail_series(detail, rule.check.doc, batch.index)}, index=batch.index)


def _repair_batch(rule: Rule, cctx: CheckContext, batch: pd.DataFrame) -> dict[str, pd.Series]:
    """A fix rule's repaired values for one batch of failing rows (``{column: values}``)."""
    try:
        repaired = rule.check.repair(batch[rule.field], batch, rule.params, cctx)
    except RuleError as err:
        raise RuleError(f"{rule.where}: {err}") from None
    return {column: pd.Series(new, index=batch.index) if not isinstance(new, pd.Series) else new
            for column, new in repaired.items()}


class ValidateStep(Step):
    name = "validate"

    def __init__(self, rules: list[Rule], labels: list[str] | None, require_label: bool,
                 unknown_label: str = "drop", examples: int = 5, workers: int = 2) -> None:
        if unknown_label not in ("drop", "fix", "flag"):
            raise ValueError(f"expected unknown_label 'drop', 'fix' or 'flag', got {unknown_label!r}")
        self.rules, self.labels, self.require_label = rules, labels, require_label
        self.unknown_label, self.examples, self.workers = unknown_label, examples, workers

    @classmethod
    def from_config(cls, cfg) -> "ValidateStep":
        rules = combine_rule_sets([(name, load_rules(resolve_rule_path(name, cfg.base_dir))) for name in cfg.rules])
        vcfg = cfg.steps.validate_
        return cls(rules, cfg.labels, vcfg.require_label, vcfg.unknown_label, cfg.output.report.examples_per_reason)

    def apply(self, table: pd.DataFrame, ctx: Context) -> StepResult:
        cctx = CheckContext(root=ctx.root, labels=self.labels, workers=self.workers)
        engine = ctx.engine
        fixing = self.unknown_label == "fix" or any(r.severity == "fix" for r in self.rules)
        current = table.copy() if fixing else table
        ids = current[ID]
        drop_reasons, drop_masks, drop_details = [], [], []
        flagged, fixed, report = [], [], []

        for rule in self.rules:
            failed, detail = self._run(rule, current, cctx, engine)
            entry = {"name": rule.name, "check": rule.check.name, "field": rule.field, "severity": rule.severity,
                     "where": rule.where, "failed": int(failed.sum()), "dropped": 0, "flagged": 0, "fixed": 0,
                     "examples": self._examples(current, rule, failed, detail)}
            if rule.severity == "error":
                drop_reasons.append(rule.reason)
                drop_masks.append(failed.to_numpy())
                drop_details.append(detail)
            elif rule.severity == "warn":
                flagged.append(decisions(ids[failed], rule.reason, detail[failed]))
                entry["flagged"] = int(failed.sum())
            elif failed.any():
                done, unfixed, fix_examples = self._fix(rule, current, failed, detail, cctx, engine)
                fixed.append(done)
                flagged.append(unfixed)
                entry.update(fixed=int(done["id"].nunique()), flagged=len(unfixed), fix_examples=fix_examples)
            report.append(entry)

        # Label checks come last, so they see labels the rules fixed, but their reasons come first.
        label_reasons, label_masks, label_details = [], [], []
        self._label_checks(current, label_reasons, label_masks, label_details, flagged, fixed)
        dropped = self._decide(current, label_reasons + drop_reasons, label_masks + drop_masks,
                               label_details + drop_details)
        kept = ~isin(ids, dropped["id"])
        flagged = [f for f in flagged if len(f)]
        flagged = pd.concat(flagged, ignore_index=True) if flagged else empty_decisions()
        flagged = flagged[isin(flagged["id"], ids[kept])].reset_index(drop=True)
        fixed = [f for f in fixed if len(f)]
        fixed = pd.concat(fixed, ignore_index=True) if fixed else empty_decisions()
        artifacts = self._artifacts(current, report, dropped, flagged, fixed)
        return StepResult(table=current if fixing else None, dropped=dropped, flagged=flagged, fixed=fixed,
                          artifacts=artifacts)

    # -- pieces of apply ----------------------------------------------------------------------------
    def _run(self, rule: Rule, table: pd.DataFrame, cctx: CheckContext,
             engine: Engine) -> tuple[pd.Series, pd.Series]:
        if rule.field is not None and rule.field not in table.columns:
            raise RuleError(f"{rule.where}: field {rule.field!r} is not a column; "
                            f"columns are: {', '.join(map(str, table.columns))}")
        check = functools.partial(_check_batch, rule, cctx)
        if not rule.check.row_local:
            out = check(table)
        else:  # a check that does not read other columns is sent its own column only
            needs = table if rule.field is None or "table" in rule.check.special else table[[rule.field]]
            out = engine.map_batches(needs, check)
        return out["failed"], out["detail"]

    def _fix(self, rule: Rule, table: pd.DataFrame, failed: pd.Series, detail: pd.Series,
             cctx: CheckContext, engine: Engine) -> tuple[pd.DataFrame, pd.DataFrame, list[dict]]:
        """Repair the failing rows in place; returns (fix frames, rows still failing, examples)."""
        rows = failed.index[failed.to_numpy()]
        needs = table.loc[rows] if "table" in rule.check.fix_special else table.loc[rows, [rule.field]]
        repaired = engine.map_batches(needs, functools.partial(_repair_batch, rule, cctx))
        frames, examples = [], []
        for column, new in repaired.items():
            new = pd.Series(new).reindex(rows)
            before = table.loc[rows, column] if column in table else pd.Series(None, index=rows, dtype=object)
            changed = ~_same(before, new)
            if not changed.any():
                continue
            where = rows[changed.to_numpy()]
            frames.append(fixes(table.loc[where, ID], column, before[where], new[where], rule.reason,
                                detail[where].to_numpy()))
            examples += [{"id": i, "column": column, "before": b, "after": a} for i, b, a in
                         zip(table.loc[where, ID][: self.examples], short_values(before[where][: self.examples]),
                             short_values(new[where][: self.examples]))]
            _set_values(table, where, column, new[where])
        still, again = self._run(rule, table, cctx, engine)
        still &= failed
        unfixed = decisions(table.loc[still, ID], rule.reason, "could not be fixed: " + again[still].astype(str))
        done = pd.concat(frames, ignore_index=True) if frames else empty_decisions()
        return done, unfixed, examples

    def _label_checks(self, table: pd.DataFrame, reasons: list, masks: list, details: list,
                      flagged: list, fixed: list) -> None:
        label = table[LABEL]
        if self.require_label:
            reasons.append("missing_label")
            masks.append(label.isna().to_numpy())
            details.append(pd.Series("the row has no label", index=table.index))
        if self.labels is None:
            return
        unknown = pd.Series(label.notna().to_numpy() & ~isin(label, self.labels), index=label.index)
        if not unknown.any():
            return
        detail = self._unknown_label_detail(label, unknown)
        if self.unknown_label == "fix":
            hints = suggestions(pd.unique(label[unknown].astype(str)), self.labels)
            new = label[unknown].astype(str).map(hints)
            can = new.notna()
            where = new.index[can.to_numpy()]
            if len(where):
                fixed.append(fixes(table.loc[where, ID], LABEL, label[where], new[where], "unknown_label",
                                   "near miss of a known label"))
                _set_values(table, where, LABEL, new[where])
                unknown[where] = False
        if self.unknown_label == "flag":
            flagged.append(decisions(table.loc[unknown, ID], "unknown_label", detail[unknown]))
            return
        reasons.append("unknown_label")
        masks.append(unknown.to_numpy())
        details.append(detail)

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
        near = suggestions(label[unknown].unique(), self.labels, cutoff=0.6)  # distinct labels only
        hints = {value: f"label {value!r} is not in the label list"
                 + (f" (did you mean {near[value]!r}?)" if value in near else "")
                 for value in label[unknown].unique()}
        detail[unknown] = label[unknown].map(hints)
        return detail

    def _examples(self, table: pd.DataFrame, rule: Rule, failed: pd.Series, detail: pd.Series) -> list[dict]:
        sel = failed[failed].index[: self.examples]
        values = table.loc[sel, rule.field] if rule.field is not None else pd.Series(None, index=sel)
        return [{"id": i, "value": v, "detail": d} for i, v, d in
                zip(table.loc[sel, ID], short_values(values), short_values(detail[sel]))]

    def _artifacts(self, table: pd.DataFrame, report: list[dict], dropped: pd.DataFrame, flagged: pd.DataFrame,
                   fixed: pd.DataFrame) -> dict:
        counts = dropped["reason"].value_counts()
        for entry in report:
            entry["dropped"] = int(counts.get(f"rule:{entry['name']}", 0))
        label = table[LABEL].astype(object).where(table[LABEL].notna(), "(missing)").astype(str)
        per_class = pd.DataFrame({
            "rows": label.value_counts(),
            "dropped": label[isin(table[ID], dropped["id"])].value_counts(),
            "flagged": label[isin(table[ID], flagged["id"])].value_counts(),
            "fixed": label[isin(table[ID], fixed["id"])].value_counts(),
        }).fillna(0).astype(int).sort_index()
        per_class["error_rate"] = (per_class["dropped"] / per_class["rows"]).round(4)
        return {
            "rules": report,
            "label_checks": {reason: int(counts.get(reason, 0)) for reason in ("missing_label", "unknown_label")},
            "per_class": [{"label": k, **{c: (float(v) if c == "error_rate" else int(v)) for c, v in row.items()}}
                          for k, row in per_class.iterrows()],  # one row per label
        }
