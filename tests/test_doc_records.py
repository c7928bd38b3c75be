"""Every measured number in README.md, docs/*.md and benchmarks/RESULTS.md is in a record.

The convention (docs/records.md says it for writers):

- A section (the text from one heading to the next heading of any level) that quotes
  measured numbers carries one or more lines ``<!-- record: PATH -->``, each alone on
  its line, PATH relative to the repository root, under ``benchmarks/results/`` or
  ``docs/results/``. Each PATH is a record (``jaxpriv.records.read_record``: command,
  commit, date, machine, device, load, results), tracked by git. A record written by
  hand from an earlier session's notes also holds ``provenance``, saying where its
  numbers were transcribed from.
- Every measured number of the section must equal a number of one of its records
  (anywhere in the record, numbers inside strings included) once that number is
  rounded the way the doc writes it: to the doc's decimals, as a fraction or a
  percentage for ``%``, in seconds, minutes or hours for durations. A number written
  after "about", "~" or "roughly" is rounded to its last non-zero digit
  ("about 200 s" stands for 150-249 s).

What counts as a measured number (outside fenced code blocks, inline code spans,
HTML comments and link targets):

- a number followed by ``%`` (``64.8%``; in a range ``61.5-68.2%`` or ``60 to 65%``
  both ends);
- a number followed by a duration (``ms``, ``s``, ``min``, ``minutes``, ``h``,
  ``hours``); ``8 min 20 s`` is one duration, 500 s;
- a number followed by ``x`` (a ratio: ``3.3x``, ``0.8-0.9x``);
- a number followed by a memory size (``MiB``, ``GiB``, ``GB``, ``MB``);
- a number written with a decimal point (``0.51``, ``-3.16``) or with thousands
  separators (``14,168``);
- a table cell that is just a number (``| 759 |``).

What does not count: plain integers elsewhere (counts, sizes, seeds, years, users:
they are settings or descriptions); dates (``2026-11-22``); version numbers
(``0.10.2``); numbers glued to a name (``a0.7-l0.2``, ``x36``); confidence levels
(``95% CI``); thresholds and definitions, i.e. numbers right after ``>=``, ``<=``,
``<``, ``>`` (not ``->``), ``=`` or the words "at most", "at least", "within";
anything in backticks.
So settings, flags, hyperparameters and equation constants are written in backticks
(``alpha 0.6``), and a measurement is never written after "within".
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from jaxpriv.records import read_record

ROOT = Path(__file__).resolve().parent.parent
RECORD_DIRS = ("benchmarks/results/", "docs/results/")


def doc_files() -> list[Path]:
    return [
        ROOT / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
        ROOT / "benchmarks" / "RESULTS.md",
    ]


# --- reading a doc into sections -------------------------------------------------

HEADING = re.compile(r"^#{1,6} ")
RECORD_LINE = re.compile(r"^\s*<!--\s*record:\s*(\S+)\s*-->\s*$")  # a line of its own
FENCE = re.compile(r"^\s*(```|~~~)")


@dataclass
class Section:
    title: str
    line: int  # 1-based line of the heading (0 before the first heading)
    records: list[str]
    lines: list[tuple[int, str]]  # (line number, text), code blocks removed


def sections(text: str) -> list[Section]:
    out = [Section("(top)", 0, [], [])]
    in_code = False
    for i, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            in_code = not in_code
            continue
        if in_code:
            continue
        if HEADING.match(line):
            out.append(Section(line.strip("# ").strip(), i, [], []))
            out[-1].lines.append((i, line))
            continue
        out[-1].records += RECORD_LINE.findall(line)
        out[-1].lines.append((i, line))
    return out


# --- finding measured numbers -----------------------------------------------------

DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
NUM = r"\d{1,3}(?:,\d{3})+(?!\d)|\d+(?:\.\d+)?"
TOKEN = re.compile(
    r"(?<![\w.,/#])(?P<sign>[-−])?(?P<num>" + NUM + r")(?![\d]|\.\d)"
    r"(?P<range>\s*(?:-|–| to )\s*(?P<sign2>[-−])?(?P<num2>" + NUM + r")(?![\d]|\.\d))?"
    r"(?P<unit>%|x(?!\w)|\s?(?:ms|s|min|minutes|h|hours|MiB|GiB|GB|MB)\b)?"
)
COMPOUND = re.compile(r"(?<![\w.])(\d+)\s+min\s+(\d+)\s+s\b")
LEVEL = re.compile(r"\s*(?:CI\b|confidence|interval)")  # "95% CI": a level, not a result
THRESHOLD = re.compile(r"(?:>=|<=|(?<!-)>|[<=≥≤]|\bat most|\bat least|\bwithin)\s*[(]*\s*$")
APPROX = re.compile(r"(?:\babout|~|\broughly|≈)\s*[(]*\s*$")
SCALES = {
    "%": (1.0, 100.0),
    "ms": (1.0, 1000.0),
    "min": (1.0, 1 / 60),
    "minutes": (1.0, 1 / 60),
    "h": (1.0, 1 / 60, 1 / 3600),
    "hours": (1.0, 1 / 60, 1 / 3600),
}


@dataclass(frozen=True)
class Quoted:
    text: str  # as written
    value: float
    decimals: int  # digits after the point as written
    unit: str
    approx: bool
    line: int


def _blank(match: re.Match) -> str:
    return re.sub(r"[^\n]", " ", match.group(0))


def _prose(text: str) -> str:
    """``text`` with HTML comments, inline code, link targets, dates and emphasis blanked
    out (same length, same line breaks: a code span may run over a line break)."""
    for pattern in (r"<!--.*?-->", r"`[^`]*`", r"\]\([^)]*\)", DATE.pattern):
        text = re.sub(pattern, _blank, text, flags=re.S)
    return text.replace("*", " ")


def _number(sign: str | None, num: str) -> tuple[float, int]:
    decimals = len(num.split(".")[1]) if "." in num else 0
    value = float(num.replace(",", ""))
    return (-value if sign else value), decimals


def measured_numbers(lines: str | list[tuple[int, str]]) -> Iterator[Quoted]:
    """The measured numbers of a block of text (a section's lines, or a string), in order.

    The block is read as a whole, so "about" or "at most" may end the line before."""
    if isinstance(lines, str):
        lines = list(enumerate(lines.splitlines(), 1))
    text = _prose("\n".join(line for _, line in lines))
    prose = text.split("\n")
    starts = list(itertools.accumulate([len(p) + 1 for p in prose], initial=0))

    def where(pos: int) -> tuple[int, str]:
        i = bisect.bisect_right(starts, pos) - 1
        return lines[i][0], prose[i]

    found = []
    for m in COMPOUND.finditer(text):  # "8 min 20 s": one duration, in seconds
        seconds = int(m.group(1)) * 60 + int(m.group(2))
        found.append((m.start(), Quoted(m.group(0), seconds, 0, "s", False, where(m.start())[0])))
    text = COMPOUND.sub(lambda m: re.sub(r"\S", " ", m.group(0)), text)
    for m in TOKEN.finditer(text):
        before = text[max(0, m.start() - 40) : m.start()]
        unit = (m.group("unit") or "").strip()
        if THRESHOLD.search(before) or (unit == "%" and LEVEL.match(text, m.end())):
            continue
        lineno, row = where(m.start())
        is_row = row.lstrip().startswith("|")
        cells = [c.strip() for c in row.strip().strip("|").split("|")] if is_row else []
        approx = bool(APPROX.search(before))
        values = [(m.group("sign"), m.group("num"))]
        if m.group("num2"):
            values.append((m.group("sign2"), m.group("num2")))
        for sign, num in values:
            value, decimals = _number(sign, num)
            plain = decimals == 0 and "," not in num and not unit
            if plain and num not in cells:
                continue  # a plain integer outside a one-number cell is not a measurement
            found.append((m.start(), Quoted(num, value, decimals, unit, approx, lineno)))
    for _, q in sorted(found, key=lambda f: f[0]):
        yield q


# --- matching against records ----------------------------------------------------


def record_numbers(obj) -> list[float]:
    """Every number in a record: JSON numbers and numbers written inside strings."""
    out: list[float] = []
    if isinstance(obj, bool) or obj is None:
        return out
    if isinstance(obj, int | float):
        return [float(obj)]
    if isinstance(obj, str):
        for m in re.finditer(r"(?<![\w.])([-−])?(" + NUM + ")", obj):
            out.append(_number(m.group(1), m.group(2))[0])
        return out
    if isinstance(obj, dict):  # the commit's hash and the date hold digits, not numbers
        obj = [v for k, v in obj.items() if k not in ("commit", "date")]
    for v in obj:
        out += record_numbers(v)
    return out


def _label(text: str) -> str:
    return re.sub(r"[`*\s]+", " ", text).strip().lower()


def record_rows(obj) -> list[tuple[set[str], list[float]]]:
    """The record's rows, each as (its text cells, its numbers): every object whose values
    are all plain (a table row, a per-run entry) and every string that is a table row."""
    rows = []
    if isinstance(obj, dict):
        values = [v for k, v in obj.items() if k not in ("commit", "date")]
        if values and not any(isinstance(v, dict | list) for v in values):
            rows.append(({_label(v) for v in values if isinstance(v, str)}, record_numbers(values)))
        for v in values:
            rows += record_rows(v)
    elif isinstance(obj, list):
        for v in obj:
            rows += record_rows(v)
    elif isinstance(obj, str) and obj.lstrip().startswith("|"):
        rows.append(({_label(obj.strip().strip("|").split("|")[0])}, record_numbers(obj)))
    return rows


def matches(q: Quoted, values: list[float]) -> bool:
    step = 10.0**-q.decimals
    if q.approx and q.decimals == 0:
        digits = str(int(abs(q.value)))
        step = 10.0 ** (len(digits) - len(digits.rstrip("0"))) if q.value else 1.0
    scales = SCALES.get(q.unit, (1.0,))
    return any(abs(v * s - q.value) <= step / 2 + 1e-9 for v in values for s in scales)


# --- the tests -------------------------------------------------------------------


def _tracked() -> set[str] | None:
    try:
        done = subprocess.run(
            ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None  # not a git checkout: nothing to compare with
    return set(done.stdout.splitlines())


def _load(path: str, cache: dict) -> tuple[list[float], list[tuple[set[str], list[float]]]]:
    if path not in cache:
        record = read_record(ROOT / path)
        cache[path] = (record_numbers(record), record_rows(record))
    return cache[path]


DATA_CELL = re.compile(r"[-−+±\d.,%x/()~\s]*(?:\d\s*(?:ms|s|min|h|MiB|GiB)\b[-−+±\d.,%x/()\s]*)*")


def _data_cells(line: str) -> tuple[str, list[str]] | None:
    """A table row's label (first cell) and its data cells (cells of numbers only, such
    as ``66.9% (62.3-71.4%)`` or ``16.7 s / 14.7 s``), or None for other lines."""
    if not line.lstrip().startswith("|") or set(line.strip()) <= set("|-: "):
        return None
    cells = [c.replace("*", "").strip() for c in line.strip().strip("|").split("|")]
    data = [c for c in cells[1:] if re.search(r"\d", c) and DATA_CELL.fullmatch(c)]
    return _label(cells[0]), data


def check_section(sec: Section, cache: dict) -> list[str]:
    """What is wrong with the section's numbers (empty when every one is in a record).

    A number must be in one of the section's records. In a table row whose first cell
    labels a row of those records (a transcribed table, a per-run entry), the numbers of
    its data cells (cells of numbers only) must all be in one such record row: an edited
    cell fails even when its new value happens to appear elsewhere in the records."""
    quoted = list(measured_numbers(sec.lines))
    if not quoted:
        return []
    if not sec.records:
        where = ", ".join(f"{q.text}{q.unit} (line {q.line})" for q in quoted[:8])
        return [f"section '{sec.title}' quotes {where} but names no record"]
    loaded = [_load(path, cache) for path in sec.records]
    values = [v for numbers, _ in loaded for v in numbers]
    rows = [row for _, recs in loaded for row in recs]
    problems = []
    for q in quoted:
        if not matches(q, values):
            problems.append(f"line {q.line}: {q.text}{q.unit} is in none of {sec.records}")
    text = dict(sec.lines)
    for line in sorted({q.line for q in quoted}):
        row = _data_cells(text[line])
        if row is None or not row[1]:
            continue
        label, data = row
        same = [vals for labels, vals in rows if label in labels]
        in_data = [q for cell in data for q in measured_numbers(f"| {cell} |")]
        in_data = [dataclasses.replace(q, line=line) for q in in_data]
        if same and not any(all(matches(q, vals) for q in in_data) for vals in same):
            problems.append(
                f"line {line}: the row '{label}' has numbers that no record row labelled so"
                f" has together ({', '.join(q.text + q.unit for q in in_data)})"
            )
    return [f"{p} (section '{sec.title}')" for p in problems]


@pytest.mark.parametrize("doc", doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_measured_number_is_in_its_sections_record(doc):
    cache: dict = {}
    problems = [
        p for sec in sections(doc.read_text(encoding="utf-8")) for p in check_section(sec, cache)
    ]
    assert not problems, f"{doc.relative_to(ROOT)}:\n  " + "\n  ".join(problems)


def test_named_records_exist_are_committed_and_complete():
    tracked = _tracked()
    named = {p for doc in doc_files() for s in sections(doc.read_text()) for p in s.records}
    assert named, "no doc names a record"
    for path in sorted(named):
        assert path.startswith(RECORD_DIRS), f"{path}: records live under {RECORD_DIRS}"
        assert (ROOT / path).is_file(), f"{path}: named in the docs but missing"
        if tracked is not None:
            assert path in tracked, f"{path}: not committed (git add it)"
        record = read_record(ROOT / path)
        assert re.fullmatch(r"[0-9a-f]{40}|unknown", record["commit"]), path
        if "provenance" in record:
            assert isinstance(record["provenance"], str) and record["provenance"].strip()


def test_every_record_under_docs_results_is_complete():
    """docs/results/ holds only records (benchmarks/results/ also holds older result files
    that no doc names)."""
    paths = sorted((ROOT / "docs" / "results").glob("*.json"))
    assert paths
    for path in paths:
        read_record(path)  # raises, naming the missing fields


# --- the checker checks ----------------------------------------------------------


def _found(line: str) -> list[tuple[float, str]]:
    return [(q.value, q.unit) for q in measured_numbers(line)]


def test_what_counts_as_a_measured_number():
    assert _found("the discriminator gives 64.8% (61.5-68.2%)") == [
        (64.8, "%"),
        (61.5, "%"),
        (68.2, "%"),
    ]
    assert _found("took 9.4 min, then 8 min 20 s; ratio 0.8-0.9x") == [
        (9.4, "min"),
        (500, "s"),
        (0.8, "x"),
        (0.9, "x"),
    ]
    assert _found("NLL -3.16 to -3.21 and 14,168 pairs, 5306 MiB") == [
        (-3.16, ""),
        (-3.21, ""),
        (14168, ""),
        (5306, "MiB"),
    ]
    assert _found("| SenseGen quick | 759 | 230 | 3.3x |") == [(759, ""), (230, ""), (3.3, "x")]
    # not measurements: integers, dates, versions, names, thresholds, code
    assert _found("24 users, 6 folds, 400 steps on 2026-11-22 (jax 0.10.2)") == []
    assert _found("variant a0.7-l0.2, x36, SSA(1,2), Adam 5e-4") == []
    assert _found("target >= 90%, at most 65%, within 0.10 of 1/2, (<= 65%)") == []
    assert _found("a target of at most\n65%; a 95% CI; 100 -> 0%") == [(0, "%")]
    assert _found("the `realistic` preset: `--self-feed 0.5`, `alpha 0.6`") == []
    assert _found("<!-- record: docs/results/a.json --> see [x](../b/1.5.md)") == []


def test_rounding_follows_the_doc():
    def ok(line, values):
        return all(matches(q, values) for q in measured_numbers(line))

    assert ok("64.8%", [0.6482])  # a fraction, as a percentage
    assert ok("64.8%", [64.84])  # already a percentage
    assert not ok("64.9%", [0.6482])
    assert ok("459 s", [459.4])
    assert ok("9.4 min", [564.0])  # seconds, in minutes
    assert ok("8 min 20 s", [500])
    assert not ok("8 min 30 s", [500])
    assert ok("about 200 s", [187.0]) and not ok("200 s", [187.0])
    assert ok("3.3x", [3.307]) and not ok("3.4x", [3.307])
    assert record_numbers({"load": "load average 3.5-3.8", "n": 2, "ok": True}) == [
        3.5,
        3.8,
        2.0,
    ]


def test_an_edited_number_fails(tmp_path):
    record = {
        "command": "c",
        "commit": "unknown",
        "date": "d",
        "machine": "m",
        "device": "cpu",
        "load": None,
        "results": {"accuracy": 0.648},
    }
    (tmp_path / "r.json").write_text(json.dumps(record))
    values = record_numbers(read_record(tmp_path / "r.json"))
    doc = "## Results\n<!-- record: r.json -->\nThe discriminator gives {}.\n"
    for text, good in (("64.8%", True), ("64.7%", False), ("65%", True), ("0.648", True)):
        (sec,) = [s for s in sections(doc.format(text)) if s.records]
        quoted = list(measured_numbers(sec.lines))
        assert quoted and all(matches(q, values) for q in quoted) is good, text
