"""ICD-10-CM lookups for the diagnosis picker and visit entry (simple-icd-10-cm, the FY code set it ships).

Date-of-service validity and the code-set year are the coding app's scrubber edits; here we only make sure
what is typed is a billable (leaf) code, written with its dot.
"""

import functools
import re

import simple_icd_10_cm as icd

ICD_SHAPE = re.compile(r"^[A-Z][0-9][0-9A-Z](\.?[0-9A-Z]{1,4})?$")


def normalize_icd10(code: str) -> str:
    """`m6281` -> `M62.81`. Shape only: codes outside the code set are normalized too, then reported."""
    raw = (code or "").strip().upper().replace(" ", "")
    if not ICD_SHAPE.match(raw):
        return raw
    bare = raw.replace(".", "")
    return f"{bare[:3]}.{bare[3:]}" if len(bare) > 3 else bare


def icd10_problem(code: str) -> str | None:
    """None when `code` is a billable ICD-10-CM code, else a plain sentence saying what is wrong."""
    normalized = normalize_icd10(code)
    if not ICD_SHAPE.match(normalized):
        return f"{code!r} is not shaped like an ICD-10-CM code (letter, two characters, optional dot and up to 4)."
    if not icd.is_valid_item(normalized):
        return f"{normalized} is not in the ICD-10-CM code set."
    if not icd.is_leaf(normalized):
        return f"{normalized} is a category header, not a billable code; pick a more specific child code."
    return None


def describe_icd10(code: str) -> str:
    normalized = normalize_icd10(code)
    return icd.get_description(normalized) if icd.is_valid_item(normalized) else ""


@functools.lru_cache(maxsize=1)
def _billable_index() -> tuple[tuple[str, str], ...]:
    return tuple((c, icd.get_description(c)) for c in icd.get_all_codes(with_dots=True) if icd.is_leaf(c))


def search_icd10(term: str, limit: int = 20) -> list[tuple[str, str]]:
    """Billable codes whose code starts with, or whose description contains, every word of `term`."""
    term = (term or "").strip()
    if len(term) < 2:
        return []
    code_prefix = term.upper().replace(".", "")
    words = term.lower().split()
    hits = []
    for code, description in _billable_index():
        if code.replace(".", "").startswith(code_prefix) or all(w in description.lower() for w in words):
            hits.append((code, description))
            if len(hits) >= limit:
                break
    return hits
