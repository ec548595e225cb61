"""A plain X12 tokenizer: delimiters from the ISA header, segments with their position for error messages."""

from dataclasses import dataclass

ISA_LENGTH = 106


class X12SyntaxError(ValueError):
    """The bytes are not a readable X12 interchange. The message names the segment and position."""


@dataclass(frozen=True)
class Delimiters:
    element: str
    component: str
    segment: str
    repetition: str


@dataclass(frozen=True)
class Segment:
    """One segment: its id, its elements (elements[0] is the id) and its 1-based position in the file."""

    elements: tuple[str, ...]
    position: int

    @property
    def id(self) -> str:
        return self.elements[0]

    def get(self, index: int, default: str = "") -> str:
        """Element by X12 number (ISA01 is get(1)); missing trailing elements read as `default`."""
        return self.elements[index] if index < len(self.elements) else default

    def components(self, index: int, delimiters: Delimiters) -> list[str]:
        return self.get(index).split(delimiters.component)

    def __str__(self):
        return f"{self.id} (segment {self.position})"


def read_delimiters(text: str) -> Delimiters:
    text = text.lstrip("\ufeff\r\n ")
    if not text.startswith("ISA") or len(text) < ISA_LENGTH:
        raise X12SyntaxError("Not an X12 interchange: the file must start with a 106-character ISA segment.")
    element = text[3]
    fields = text[:ISA_LENGTH].split(element)
    if len(fields) != 17:
        raise X12SyntaxError(f"ISA segment 1 has {len(fields) - 1} elements; expected 16.")
    repetition = fields[11] if fields[12] >= "00501" else "^"
    return Delimiters(element=element, component=text[104], segment=text[105], repetition=repetition)


def tokenize(text: str) -> tuple[Delimiters, list[Segment]]:
    """Split an interchange into segments; newlines between segments are ignored."""
    text = text.lstrip("\ufeff\r\n ")
    delimiters = read_delimiters(text)
    segments = []
    for raw in text.split(delimiters.segment):
        raw = raw.strip("\r\n")
        if not raw.strip():
            continue
        elements = tuple(raw.split(delimiters.element))
        if not elements[0].isalnum() or len(elements[0]) > 3:
            raise X12SyntaxError(f"Segment {len(segments) + 1} has no valid segment id: {raw[:20]!r}.")
        segments.append(Segment(elements=elements, position=len(segments) + 1))
    if not segments or segments[-1].id != "IEA":
        raise X12SyntaxError("The interchange has no closing IEA segment (file truncated?).")
    return delimiters, segments


def transaction_sets(segments: list[Segment], *, strict: bool = True) -> list[list[Segment]]:
    """ST…SE groups, checked for a matching SE and segment count (and SE02 = ST02 when strict).

    Some real payers' files repeat the wrong control number in SE02; readers of such files pass strict=False.
    """
    groups: list[list[Segment]] = []
    current: list[Segment] | None = None
    for segment in segments:
        if segment.id == "ST":
            if current is not None:
                raise X12SyntaxError(f"ST at segment {segment.position} opens before the previous SE.")
            current = [segment]
        elif current is not None:
            current.append(segment)
            if segment.id == "SE":
                if segment.get(1) != str(len(current)):
                    raise X12SyntaxError(
                        f"SE at segment {segment.position} counts {segment.get(1)} segments; "
                        f"the set has {len(current)}."
                    )
                if strict and segment.get(2) != current[0].get(2):
                    raise X12SyntaxError(f"SE02 at segment {segment.position} does not match ST02 {current[0].get(2)}.")
                groups.append(current)
                current = None
    if current is not None:
        raise X12SyntaxError(f"ST at segment {current[0].position} has no SE.")
    return groups
