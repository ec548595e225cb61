"""Read side of coding: the code book in force on a date, NCCI/MUE lookups, KX year-to-date totals."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Sum

from .models import CodedLine, MueLimit, NcciPair, ProcedureCode, TherapyThreshold
from .units import Family


@dataclass
class CodeBook:
    """The procedure codes in force on one date of service."""

    codes: dict[str, ProcedureCode]

    def get(self, code: str) -> ProcedureCode | None:
        return self.codes.get(code)

    def families(self) -> list[Family]:
        return [Family(first=c.family_first, additional=c.code) for c in self.codes.values() if c.family_first]


def code_book(on_date) -> CodeBook:
    return CodeBook({c.code: c for c in ProcedureCode.objects.in_force_on(on_date)})


def ncci_pairs_among(codes: set[str], on_date) -> list[NcciPair]:
    return list(NcciPair.objects.in_force_on(on_date).filter(column1__in=codes, column2__in=codes))


def mue_limits_for(codes: set[str], on_date) -> dict[str, MueLimit]:
    return {m.code: m for m in MueLimit.objects.in_force_on(on_date).filter(code__in=codes)}


def threshold_for_year(year: int) -> TherapyThreshold | None:
    return TherapyThreshold.objects.filter(year=year).first()


def ot_allowed_year_to_date(visit) -> Decimal:
    """Expected allowed OT amounts on this patient's earlier KX-payer visits of the same calendar year.

    Earlier = an earlier date of service, or the same date entered before this visit. Later issues add the
    year-to-date amount reported on eligibility responses (other providers' services) to this figure.
    """
    earlier = (
        CodedLine.objects.filter(
            coding__visit__patient=visit.patient,
            coding__visit__coverage__payer__kx_threshold_applies=True,
            coding__visit__date_of_service__year=visit.date_of_service.year,
        )
        .exclude(coding__visit=visit)
        .filter(coding__visit__date_of_service__lte=visit.date_of_service)
    )
    earlier = earlier.exclude(coding__visit__date_of_service=visit.date_of_service,
                              coding__visit__created_at__gt=visit.created_at)
    return earlier.aggregate(total=Sum("expected_allowed"))["total"] or Decimal("0.00")
