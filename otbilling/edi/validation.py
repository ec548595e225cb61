"""pyx12 validation, wrapped: every pyx12 exception becomes a readable error instead of a crash.

pyx12's own entry point (`pyx12.x12n_document.x12n_document`) parses its XML maps, code sets and map index
again on every call, which is nine tenths of the time it takes to validate a claim file. The maps are read-only
once built (the walk keeps its counts in a per-file `walk_tree`, the findings in a per-file `err_handler`), so
`_run_pyx12` below drives the same pyx12 pieces with maps loaded once per process, and keeps everything that
belongs to one file (reader, walker, error handler) local to the call. It leaves out what we never read: the
HTML report, the XML document and the 997/999 writer.

Some findings pyx12 only logs (errors on ISA, GS and ST elements, such as an ST03 the map marks "not used"); they
are captured from the `pyx12` loggers during the call and reported like the others.
"""

import functools
import io
import json
import logging
import re
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from otbilling.edi.tokenizer import X12SyntaxError, tokenize

log = logging.getLogger(__name__)
MAX_FILE_BYTES = 50 * 1024 * 1024
# The shape of every finding pyx12's error handler logs: "Line:12 ELE:7 - Data element ... (CLP02) (Q)".
LOGGED_FINDING = re.compile(r"Line:(?P<line>\d+) (?P<level>ISA|GS|ST|SEG|ELE):(?P<code>\w*) - (?P<text>.*)", re.S)


@dataclass
class X12Issue:
    message: str
    segment: str = ""
    line: int | None = None
    code: str = ""

    def __str__(self):
        where = f"segment {self.segment} at line {self.line}: " if self.segment else ""
        return f"{where}{self.message}"


@dataclass
class X12ValidationResult:
    ok: bool
    issues: list[X12Issue] = field(default_factory=list)


class _Pyx12Crash(Exception):
    """pyx12 raised while walking a segment; keeps where it was."""

    def __init__(self, cause: Exception, segment: str, line: int | None):
        super().__init__(str(cause))
        self.cause, self.segment, self.line = cause, segment, line


def _walk_errors(node, issues: list[X12Issue], context: dict) -> None:
    """Collect error leaves from pyx12's JSON error tree, keeping the nearest segment id and line."""
    if isinstance(node, dict):
        here = dict(context)
        if node.get("seg_id"):
            here["segment"] = node.get("seg_id")
        if node.get("cur_line"):
            here["line"] = node.get("cur_line")
        if node.get("err_str"):
            issues.append(X12Issue(message=str(node["err_str"]), segment=str(here.get("segment", "")),
                                   line=_int_or_none(here.get("line")), code=str(node.get("err_cde") or "")))
        for value in node.values():
            _walk_errors(value, issues, here)
    elif isinstance(node, list):
        for item in node:
            _walk_errors(item, issues, context)


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# ---- maps, loaded once per process -------------------------------------------------------------------------

@functools.cache
def _params():
    import pyx12.params

    return pyx12.params.params()


@functools.lru_cache(maxsize=8)
def _map(map_file: str):
    """One implementation-guide map (with its code sets and data elements), built once and only read after."""
    import pyx12.map_if

    return pyx12.map_if.load_map_file(map_file, _params(), None)


@functools.cache
def _map_index():
    import pyx12.map_index

    return pyx12.map_index.map_index(None)


def clear_map_cache() -> None:
    """Forget the loaded maps (after upgrading pyx12 in a running process, or to measure a cold start)."""
    _map.cache_clear()
    _map_index.cache_clear()
    _params.cache_clear()


# ---- capturing what pyx12 only logs ------------------------------------------------------------------------

class _ThreadCapture(logging.Handler):
    """Keeps the pyx12 records of one thread, so two validations running at once do not mix their findings."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record):
        if record.thread == self.thread:
            self.messages.append(record.getMessage())


_capture_lock = threading.Lock()
_capture_state = {"depth": 0, "level": logging.NOTSET, "propagate": True}


@contextmanager
def _pyx12_log_captured() -> Iterator[list[str]]:
    """Collect the error messages pyx12 logs during the block.

    The settings silence the `pyx12` logger (its findings come back through this module), so while any capture is
    active the logger is opened to ERROR for our handler and kept from propagating, which keeps those records out
    of the console exactly as before. The first capture in opens it, the last one out restores it.
    """
    logger = logging.getLogger("pyx12")
    handler = _ThreadCapture()
    with _capture_lock:
        if _capture_state["depth"] == 0:
            _capture_state.update(level=logger.level, propagate=logger.propagate)
            if logger.getEffectiveLevel() > logging.ERROR:
                logger.setLevel(logging.ERROR)
                logger.propagate = False
        _capture_state["depth"] += 1
        logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        with _capture_lock:
            logger.removeHandler(handler)
            _capture_state["depth"] -= 1
            if _capture_state["depth"] == 0:
                logger.setLevel(_capture_state["level"])
                logger.propagate = _capture_state["propagate"]


def _logged_issues(messages: list[str], data: bytes) -> list[X12Issue]:
    """Turn pyx12's logged findings into issues, naming the segment found at the logged line of the file."""
    segment_at = _segment_ids(data)
    issues = []
    for message in messages:
        found = LOGGED_FINDING.search(message)
        if not found:
            continue
        line = int(found["line"])
        segment = found["level"] if found["level"] in ("ISA", "GS", "ST") else segment_at.get(line, "")
        issues.append(X12Issue(message=_without_repeated_value(found["text"].strip()), segment=segment, line=line,
                               code=found["code"]))
    return issues


def _without_repeated_value(text: str) -> str:
    """pyx12 logs the bad value after a message that often names it already: "invalid date (1001AB) (1001AB)"."""
    head, sep, tail = text.rpartition(" (")
    return head if sep and tail.endswith(")") and head.endswith(f"({tail}") else text


def _segment_ids(data: bytes) -> dict[int, str]:
    try:
        _, segments = tokenize(data.decode("latin-1"))
    except X12SyntaxError:
        return {}
    return {segment.position: segment.id for segment in segments}


def _not_yet_reported(logged: list[X12Issue], reported: list[X12Issue]) -> list[X12Issue]:
    """The logged findings the JSON report left out (pyx12 logs every finding, but reports only some of them)."""
    unmatched = list(reported)
    extra = []
    for issue in logged:
        same = next((known for known in unmatched if known.code == issue.code and (
            issue.message == known.message or issue.message.startswith(f"{known.message} ("))), None)
        if same is None:
            extra.append(issue)
        else:
            unmatched.remove(same)
    return extra


# ---- the walk ----------------------------------------------------------------------------------------------

def _run_pyx12(src_path: str) -> tuple[bool, str]:
    """Validate one file as `pyx12.x12n_document` does, with cached maps. Answers (valid, JSON error report).

    Raises pyx12.errors.X12Error when the file is not X12, `_Pyx12Crash` when pyx12 fails on a segment and
    EngineError when no map fits the GS.
    """
    import pyx12.errh_json
    import pyx12.error_handler
    import pyx12.errors
    import pyx12.map_if
    import pyx12.x12file
    from pyx12.map_if._segment import apply_segment_errors
    from pyx12.map_walker import apply_walk_errors, walk_tree

    errh = pyx12.error_handler.err_handler()
    src = pyx12.x12file.X12Reader(src_path)
    try:
        map_file = "x12.control.00501.xml" if src.icvn == "00501" else "x12.control.00401.xml"
        control_map = _map(map_file)
        node = control_map.getnodebypath("/ISA_LOOP/ISA")
        walker = walk_tree()
        icvn = fic = vriic = None
        valid = True
        for seg in src:
            orig_node = node
            seg_id = seg.get_seg_id()
            if seg_id == "ISA":
                node = control_map.getnodebypath("/ISA_LOOP/ISA")
                walker.forceWalkCounterToLoopStart("/ISA_LOOP", "/ISA_LOOP/ISA")
            elif seg_id == "GS":
                node = control_map.getnodebypath("/ISA_LOOP/GS_LOOP/GS")
                walker.forceWalkCounterToLoopStart("/ISA_LOOP/GS_LOOP", "/ISA_LOOP/GS_LOOP/GS")
            else:
                try:
                    node, _pop, _push, walk_errors = walker.walk_errors(
                        node, seg, src.get_seg_count(), src.get_cur_line(), src.get_ls_id())
                except pyx12.errors.EngineError as exc:
                    raise _Pyx12Crash(exc, seg_id, src.get_cur_line()) from exc
                apply_walk_errors(errh, walk_errors)
            if node is None:
                node = orig_node
                continue
            if seg_id == "ISA":
                errh.add_isa_loop(seg, src)
                icvn = seg.get_value("ISA12")
                errh.handle_errors(src.pop_errors())
            elif seg_id == "IEA":
                errh.handle_errors(src.pop_errors())
                errh.close_isa_loop(node, seg, src)
            elif seg_id == "GS":
                fic, vriic = seg.get_value("GS01"), seg.get_value("GS08")
                map_file_new = _map_index().get_filename(icvn, vriic, fic)
                if map_file != map_file_new:
                    if map_file_new is None:
                        missing = f"Map not found.  icvn={icvn}, fic={fic}, vriic={vriic}"
                        raise _Pyx12Crash(pyx12.errors.EngineError(missing), "GS", src.get_cur_line())
                    map_file = map_file_new
                    src.check_837_lx = _map(map_file).id == "837"
                node = _map(map_file).getnodebypath("/ISA_LOOP/GS_LOOP/GS")
                errh.add_gs_loop(seg, src)
                errh.handle_errors(src.pop_errors())
            elif seg_id == "GE":
                errh.handle_errors(src.pop_errors())
                errh.close_gs_loop(node, seg, src)
            elif seg_id == "ST":
                errh.add_st_loop(seg, src)
                errh.handle_errors(src.pop_errors())
            elif seg_id == "SE":
                errh.handle_errors(src.pop_errors())
                errh.close_st_loop(node, seg, src)
            else:
                if seg_id == "BHT" and vriic in ("004010X094", "004010X094A1"):
                    node, map_file = _map_for_4010_278(node, map_file, (icvn, fic, vriic), seg, src)
                errh.add_seg(node, seg, src.get_seg_count(), src.get_cur_line(), src.get_ls_id())
                errh.handle_errors(src.pop_errors())
            valid &= apply_segment_errors(node, seg, errh)
        src.cleanup()  # reports loop trailers the file never closed
        errh.handle_errors(src.pop_errors())
        fd_json = io.StringIO()
        errh.accept(pyx12.errh_json.errh_json_visitor(fd_json))
    finally:
        src.close()
    return bool(valid) and errh.get_error_count() == 0, fd_json.getvalue()


def _map_for_4010_278(node, map_file, versions, seg, src):
    """A 4010 278 picks its map by BHT02 (request or response), as pyx12 does."""
    import pyx12.errors

    icvn, fic, vriic = versions
    tspc = seg.get_value("BHT02")
    map_file_new = _map_index().get_filename(icvn, vriic, fic, tspc)
    if map_file == map_file_new:
        return node, map_file
    if map_file_new is None:
        missing = f"Map not found.  icvn={icvn}, fic={fic}, vriic={vriic}, tspc={tspc}"
        raise _Pyx12Crash(pyx12.errors.EngineError(missing), "BHT", src.get_cur_line())
    src.check_837_lx = _map(map_file_new).id == "837"
    return _map(map_file_new).getnodebypath("/ISA_LOOP/GS_LOOP/ST_LOOP/HEADER/BHT"), map_file_new


def validate_with_pyx12(content: bytes | str) -> X12ValidationResult:
    """Validate one interchange against pyx12's implementation-guide maps."""
    import pyx12.errors

    data = content.encode() if isinstance(content, str) else content
    if len(data) > MAX_FILE_BYTES:
        return X12ValidationResult(False, [X12Issue(f"File is larger than {MAX_FILE_BYTES // 1_000_000} MB.")])
    with tempfile.TemporaryDirectory() as tmp, _pyx12_log_captured() as logged:
        path = Path(tmp) / "in.x12"
        path.write_bytes(data)
        try:
            ok, raw = _run_pyx12(str(path))
        except pyx12.errors.X12Error as exc:
            return X12ValidationResult(False, [X12Issue(f"pyx12 could not read the file: {exc}")])
        except _Pyx12Crash as exc:
            log.info("pyx12 raised %s", exc.cause.__class__.__name__, exc_info=True)
            reason = f"pyx12 could not read the file: {exc.cause.__class__.__name__}: {exc.cause}"
            return X12ValidationResult(False, [X12Issue(reason, segment=exc.segment, line=exc.line)])
        except Exception as exc:  # pyx12 raises bare AttributeError/EngineError on some bad input
            log.info("pyx12 raised %s", exc.__class__.__name__, exc_info=True)
            reason = f"pyx12 could not read the file: {exc.__class__.__name__}: {exc}"
            return X12ValidationResult(False, [X12Issue(reason)])
    issues: list[X12Issue] = []
    raw = raw.strip()
    if raw:
        try:
            _walk_errors(json.loads(raw), issues, {})
        except json.JSONDecodeError:
            issues.append(X12Issue("pyx12 reported errors it could not describe."))
    if not ok:
        issues.extend(_not_yet_reported(_logged_issues(logged, data), issues))
    if not ok and not issues:
        issues.append(X12Issue("pyx12 rejected the file."))
    return X12ValidationResult(bool(ok) and not issues, issues)
