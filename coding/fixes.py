"""One-click fixes a finding can offer. Each changes billing fields through visits' services, with a reason."""

from otbilling.errors import AppError
from visits.services import service_line_recode

FIXES = {}


def fix(code: str):
    def register(func):
        FIXES[code] = func
        return func

    return register


def apply(code: str, *, finding, acting_user) -> None:
    func = FIXES.get(code)
    if func is None:
        raise AppError(f"Unknown fix {code!r}.", code="no_fix")
    if finding.service_line is None:
        raise AppError("This fix needs a service line.", code="no_fix")
    func(finding=finding, line=finding.service_line, acting_user=acting_user, **finding.fix_params)


def _reason(finding) -> str:
    return f"One-click fix for {finding.rule_id}: {finding.fix_label or finding.message}"[:300]


@fix("replace_modifier")
def replace_modifier(*, finding, line, acting_user, old: str, new: str):
    modifiers = [new if m == old else m for m in line.manual_modifiers]
    if new not in modifiers:
        modifiers.append(new)
    service_line_recode(acting_user=acting_user, line=line, reason=_reason(finding), manual_modifiers=modifiers)


@fix("add_modifier")
def add_modifier(*, finding, line, acting_user, modifier: str):
    if modifier not in line.manual_modifiers:
        service_line_recode(acting_user=acting_user, line=line, reason=_reason(finding),
                            manual_modifiers=[*line.manual_modifiers, modifier])


@fix("remove_modifier")
def remove_modifier(*, finding, line, acting_user, modifier: str):
    service_line_recode(acting_user=acting_user, line=line, reason=_reason(finding),
                        manual_modifiers=[m for m in line.manual_modifiers if m != modifier])


@fix("replace_code")
def replace_code(*, finding, line, acting_user, new: str):
    service_line_recode(acting_user=acting_user, line=line, reason=_reason(finding), cpt=new)


@fix("mark_distinct_time_block")
def mark_distinct_time_block(*, finding, line, acting_user):
    service_line_recode(acting_user=acting_user, line=line, reason=_reason(finding), distinct_time_block=True)
