"""The charge scrubber: a registry of named edits run over one visit's coding plan.

An edit is a function taking a `ScrubContext` and yielding `Proposal`s. Register it with `@edit(...)`; the
rule id is stable (it is stored on findings, filtered on in the coding queue and cited in tests). Edits that
need eligibility or authorization data register here too, from their own modules.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import date

from .models import Severity


@dataclass
class Proposal:
    """A finding an edit wants to raise. `fix_code` names a function in coding.fixes."""

    message: str
    line: object | None = None  # visits.ServiceLine
    field: str = ""
    severity: str | None = None  # defaults to the edit's severity
    fix_code: str = ""
    fix_label: str = ""
    fix_params: dict = dc_field(default_factory=dict)


@dataclass
class ScrubContext:
    visit: object
    lines: list  # ServiceLine rows in position order
    plan: object  # coding.engine.VisitPlan
    book: object  # coding.selectors.CodeBook
    payer: object | None
    today: date

    def line_label(self, line) -> str:
        return f"line {line.position} ({line.cpt})"

    def plan_for(self, line):
        return next(p for p in self.plan.lines if p.line.pk == line.pk)


@dataclass(frozen=True)
class Edit:
    rule_id: str
    severity: str
    title: str
    func: Callable[[ScrubContext], Iterable[Proposal]]


REGISTRY: dict[str, Edit] = {}


def edit(rule_id: str, *, severity: str, title: str):
    """Register a scrubber edit under a stable rule id."""

    def register(func):
        if rule_id in REGISTRY and REGISTRY[rule_id].func.__qualname__ != func.__qualname__:
            raise ValueError(f"Scrubber rule {rule_id} is registered twice.")
        REGISTRY[rule_id] = Edit(rule_id=rule_id, severity=severity, title=title, func=func)
        return func

    return register


@dataclass
class RaisedFinding:
    rule_id: str
    severity: str
    proposal: Proposal


def run_edits(context: ScrubContext) -> list[RaisedFinding]:
    raised = []
    for rule in REGISTRY.values():
        for proposal in rule.func(context) or ():
            raised.append(RaisedFinding(rule.rule_id, proposal.severity or rule.severity, proposal))
    return raised


BLOCKING = Severity.BLOCKING
WARNING = Severity.WARNING
