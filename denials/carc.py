"""Claim adjustment reason codes (CARC), remark codes (RARC) and CAS group codes in our own short words.

The table is domain-rules §7.1–7.3 as data: for each CARC a short meaning, a category the denial worklists filter
on, and the action a biller usually takes. Meanings are our paraphrase, not the X12 wording (the official list
has licence terms); a code we do not list still gets an answer (category "other") so an unusual 835 never breaks
a worklist. Codes marked "beyond §7.2" were added because they appear in real remittances we read (sample files,
MPPR); their meanings were checked against a copy of the X12 list and should be confirmed like the rest.
"""

from dataclasses import dataclass

ELIGIBILITY = "eligibility"
AUTHORIZATION = "authorization"
CODING = "coding"
TIMELY_FILING = "timely filing"
DUPLICATE = "duplicate"
DOCUMENTATION = "documentation"
CONTRACTUAL = "contractual"
PATIENT_RESPONSIBILITY = "patient responsibility"
BUNDLING = "bundling/NCCI"
MEDICAL_NECESSITY = "medical necessity"
COORDINATION_OF_BENEFITS = "coordination of benefits"
BENEFIT_LIMIT = "frequency/benefit limit"
PROVIDER_ENROLLMENT = "provider enrollment"
OTHER = "other"
CATEGORIES = (
    ELIGIBILITY, AUTHORIZATION, CODING, TIMELY_FILING, DUPLICATE, DOCUMENTATION, CONTRACTUAL,
    PATIENT_RESPONSIBILITY, BUNDLING, MEDICAL_NECESSITY, COORDINATION_OF_BENEFITS, BENEFIT_LIMIT,
    PROVIDER_ENROLLMENT, OTHER,
)

GENERIC_ACTION = "Look the code up in the X12 CARC list, read the remark codes, then appeal, correct or write off."
CORRECTED_CLAIM = "Corrected claim"


@dataclass(frozen=True)
class CarcInfo:
    code: str
    meaning: str
    category: str
    action: str
    known: bool = True


_PATIENT = "Bill the patient or the secondary payer (PR)"
# code: (meaning, category, usual action) — domain-rules §7.2; where it gives two categories the first is used,
# except 96 (non-covered charge: the first step is a benefits check) and 242 (network/referral).
_CARCS: dict[str, tuple[str, str, str]] = {
    "1": ("Deductible", PATIENT_RESPONSIBILITY, _PATIENT),
    "2": ("Coinsurance", PATIENT_RESPONSIBILITY, _PATIENT),
    "3": ("Copay", PATIENT_RESPONSIBILITY, _PATIENT),
    "4": ("Modifier does not fit the code, or a required modifier (e.g. GO, KX) is missing", CODING,
          CORRECTED_CLAIM),
    "5": ("Code or type of bill does not fit the place of service", CODING, CORRECTED_CLAIM),
    "11": ("Diagnosis does not fit the procedure", CODING, "Corrected claim with a better ICD-10 code, or appeal"),
    "16": ("Information missing or billing error (see the remark code)", CODING,
           "Read the remark code, then send a corrected claim (a new claim if it was rejected)"),
    "18": ("Exact duplicate of a claim or line", DUPLICATE,
           "Check the status of the original; do not resubmit; appeal only if it is not a duplicate "
           "(e.g. a legitimate 59/76)"),
    "22": ("Another payer may be primary", COORDINATION_OF_BENEFITS,
           "Update coordination of benefits, bill the primary, then the secondary with the EOB"),
    "23": ("Effect of the prior payer's adjudication", COORDINATION_OF_BENEFITS,
           "Post it; bill the patient or next payer for what is left as PR"),
    "26": ("Service before coverage started", ELIGIBILITY,
           "Re-verify eligibility; bill the right payer or the patient"),
    "27": ("Service after coverage ended", ELIGIBILITY, "Re-verify eligibility; bill the right payer or the patient"),
    "29": ("Filing deadline passed", TIMELY_FILING, "Write off, unless you can prove timely filing (then appeal)"),
    "31": ("Patient not identified as a member", ELIGIBILITY, "Fix member id, name or date of birth and resubmit"),
    "45": ("Charge above the fee schedule or contracted allowance", CONTRACTUAL,
           "Contractual write-off (check the amount against the contract)"),
    "50": ("Not medically necessary in the payer's view", MEDICAL_NECESSITY,
           "Appeal with the records; an ABN or waiver decides whether the patient is liable"),
    "96": ("Charge not covered (see the remark code)", ELIGIBILITY,
           "Check benefits; bill the patient if an ABN or waiver is on file, otherwise write off"),
    "97": ("Paid as part of another service already adjudicated", BUNDLING,
           "Check NCCI; corrected claim with 59/X if the service was distinct, otherwise write off"),
    "109": ("Not covered by this payer; send to the right payer", ELIGIBILITY,
            "Re-verify coverage and bill the right payer"),
    "119": ("Benefit maximum for the period reached (visit limit, Medicare KX threshold)", BENEFIT_LIMIT,
            "Add KX if it applies (corrected claim); otherwise bill the patient or secondary"),
    "146": ("Diagnosis not valid on the date of service", CODING,
            "Corrected claim with an ICD-10-CM code valid for that fiscal year"),
    "150": ("Records do not support this level of service", DOCUMENTATION, "Appeal, or correct the code"),
    "151": ("Records do not support this many units or visits", BENEFIT_LIMIT,
            "Appeal with the minutes documented; check the MUE and the 8-minute calculation"),
    "167": ("Diagnosis not covered", CODING, "Corrected claim or appeal"),
    "170": ("Not payable when done or billed by this provider type", PROVIDER_ENROLLMENT,
            "Check taxonomy and credentialing; rebill with the right billing provider"),
    "181": ("Code not valid on the date of service", CODING, "Corrected claim (e.g. 97127 became 97129 in 2020)"),
    "182": ("Modifier not valid on the date of service", CODING, CORRECTED_CLAIM),
    "185": ("Rendering provider not eligible to perform the service", PROVIDER_ENROLLMENT,
            "Fix the rendering NPI or enrollment, then send a corrected claim"),
    "197": ("Prior authorization or notification missing", AUTHORIZATION,
            "Get a retro authorization if allowed, then appeal or correct; otherwise write off "
            "(in network the patient usually cannot be billed)"),
    "198": ("Authorization exceeded (visits, units or dates)", AUTHORIZATION,
            "Ask for an authorization extension; appeal"),
    "204": ("Service not covered by the patient's current benefit plan", ELIGIBILITY,
            "Bill the patient if they were told and agreed; otherwise write off"),
    "206": ("NPI missing", PROVIDER_ENROLLMENT, "Fix the NPI and resubmit"),
    "207": ("NPI in an invalid format", PROVIDER_ENROLLMENT, "Fix the NPI and resubmit"),
    "208": ("NPI does not match the payer's records", PROVIDER_ENROLLMENT, "Fix the NPI and resubmit"),
    "226": ("Requested information not sent, or sent late", DOCUMENTATION, "Send the records; appeal or reopen"),
    "236": ("Code or modifier pair not allowed with another code the same day (NCCI)", BUNDLING,
            "Corrected claim with 59/X if the time blocks were distinct; otherwise write off"),
    "242": ("Service not given by a network provider or the PCP", AUTHORIZATION,
            "Check network status and referral; appeal or bill as the contract says"),
    "252": ("An attachment or documentation is needed", DOCUMENTATION,
            "Send the attachment (PWK/275) and resubmit"),
    "253": ("Sequestration: federal payment reduction (2%)", CONTRACTUAL,
            "Contractual adjustment; do not bill the patient"),
    "288": ("Referral missing", AUTHORIZATION, "Get the referral; appeal"),
    "B7": ("Provider not certified or eligible for this service on this date", PROVIDER_ENROLLMENT,
           "Fix enrollment dates or credentialing; appeal"),
    "B9": ("Patient is enrolled in hospice", ELIGIBILITY,
           "Bill hospice if related; if unrelated, appeal with the condition code or modifier the payer wants"),
    "B15": ("Needs a qualifying service that was not received or adjudicated (e.g. 97130 without 97129)", CODING,
            CORRECTED_CLAIM),
    # beyond §7.2: seen in the shared sample remittances or produced by therapy MPPR
    "59": ("Reduced under multiple or concurrent procedure rules (therapy MPPR)", CONTRACTUAL,
           "Check the reduction against the MPPR ranking; write off the difference"),
    "94": ("Paid more than the charge", CONTRACTUAL, "Post as paid; check the fee schedule and the charge"),
    "131": ("Negotiated discount for this claim", CONTRACTUAL, "Contractual write-off (check against the contract)"),
    "251": ("Attachment or documentation received was incomplete", DOCUMENTATION,
            "Send the complete documentation the remark code asks for"),
}

# Adjustments that are the ordinary result of adjudication, not a refusal to pay (domain-rules §8: a denial
# excludes PR 1/2/3 cost sharing; CO-45 and sequestration are contractual; OA-23 is the prior payer's share).
_ROUTINE = {"1", "2", "3", "23", "45", "59", "94", "131", "253"}

RARCS = {
    "M80": "Not covered when done on the same date or session as a service already processed",
    "M86": "Denied: the same or a similar procedure was already paid in the time window",
    "M15": "Separately billed services were bundled as parts of one procedure",
    "M20": "HCPCS code missing, incomplete or invalid",
    "N640": "More visits or units than approved or allowed in the period (authorization or visit limit)",
    "N435": "More visits or units than allowed without supporting documentation",
    "N362": "Days or units exceed the payer's maximum (MUE-style)",
    "N430": "Procedure code does not fit the units billed",
    "N443": "Total time or begin/end time missing, incomplete or invalid",
    "N657": "Should be billed with the code meant for this service (e.g. G0283 instead of 97014)",
    "N661": "Documentation does not support medical necessity",
    "N706": "Documentation missing",
    "N705": "Documentation incomplete",
    "N473": "Certification (plan of care) missing",
    "N474": "Certification (plan of care) incomplete or invalid",
    "N115": "Decision based on a Local Coverage Determination (LCD)",
    "N386": "Decision based on a National Coverage Determination (NCD)",
    "N130": "See the plan's benefit documents for restrictions",
    "N122": "Add-on code cannot be billed by itself",
    "N519": "Invalid combination of HCPCS modifiers",
    "N390": "This service or report cannot be billed separately",
    "N670": "This code is the primary procedure for multiple-procedure (MPPR) purposes",
    "N142": "Original claim was denied: send a new claim, not a replacement",
    "N380": "Original claim was processed: send a corrected claim",
    "N432": "Adjustment from a Recovery Audit",
    "N95": "This provider type or specialty may not bill this service",
    "N704": "Not appealable; resubmit with corrected information",
    "MA130": "Claim cannot be processed (incomplete or invalid); no appeal rights; submit a new claim",
}

GROUPS = {
    "CO": "Contractual obligation: provider write-off, the patient cannot be billed",
    "PR": "Patient responsibility: bill the patient or the secondary payer",
    "OA": "Other adjustment: neither contractual nor the patient's (e.g. prior payer, duplicate)",
    "PI": "Payer-initiated reduction: the payer holds the provider liable, outside the contract",
    "CR": "Correction or reversal (4010 only; not valid in 5010 — reversals use claim status 22)",
}


def _clean(code: str | None) -> str:
    return (code or "").strip().upper()


def carc_info(code: str | None) -> CarcInfo:
    """Meaning, category and usual action of a CARC; an unknown code answers category "other", never KeyError."""
    key = _clean(code)
    if key in _CARCS:
        meaning, category, action = _CARCS[key]
        return CarcInfo(code=key, meaning=meaning, category=category, action=action)
    meaning = f"Adjustment reason {key} (not in our table)" if key else "No adjustment reason given"
    return CarcInfo(code=key, meaning=meaning, category=OTHER, action=GENERIC_ACTION, known=False)


def rarc_text(code: str | None) -> str:
    key = _clean(code)
    return RARCS.get(key) or f"Remark {key} (not in our list; see the X12 RARC list)"


def group_label(code: str | None) -> str:
    key = _clean(code)
    return GROUPS.get(key) or f"Unknown adjustment group {key!r}"


def is_denial(group: str | None, carc: str | None) -> bool:
    """Whether an adjustment is a refusal to pay that someone should work (appeal, correct, rebill, write off).

    Not denials: patient cost sharing (PR 1/2/3), contractual reductions (CO-45, CO-253 sequestration, MPPR and
    negotiated discounts) and OA-23 (the prior payer's share). Every other reason is a denial, an unknown one
    included, so it reaches a worklist rather than being silently accepted. PR with another reason (e.g. PR-204
    non-covered) is still counted, as the denial-rate definition of domain-rules §8 does: the payer refused, the
    patient may be billed. A 4010 CR (correction/reversal) undoes an earlier adjustment and is never a denial.
    """
    if _clean(group) == "CR":
        return False
    return _clean(carc) not in _ROUTINE
