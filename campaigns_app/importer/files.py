"""Reading an uploaded CSV without loading it: the size limit, the encoding (UTF-8, UTF-8 with BOM,
else Latin-1), the header row and which column is which, and a row stream that reports bytes read."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError

from agents_app import placeholders
from campaigns_app.models import ImportEncoding

HEAD_BYTES = 64 * 1024
# The longest field a row may hold (csv's default limit, set explicitly: a row past it is refused,
# not read into memory without bound).
MAX_FIELD_CHARS = 131072
# Header names (lower-cased, spaces and dashes as "_") guessed as each contact field.
FIELD_HEADERS: dict[str, tuple[str, ...]] = {
    "number": (
        "number",
        "phone",
        "phone_number",
        "phonenumber",
        "mobile",
        "mobile_number",
        "mobile_phone",
        "cell",
        "cell_phone",
        "telephone",
        "tel",
    ),
    "name": ("name", "full_name", "contact_name"),
    "timezone": ("timezone", "time_zone", "tz"),
}
MAPPED_FIELDS = tuple(FIELD_HEADERS)
NOT_CSV = (
    "The file contains NUL bytes: it looks like a spreadsheet or a binary file, not CSV. "
    "Save it as CSV (comma-separated values) and upload that."
)


class FileProblem(Exception):
    """The file cannot be read on (a decoding error deep in the file): the whole import fails."""


def header_key(text: str) -> str:
    """'Phone Number' -> 'phone_number': how a header is matched and how a column names its variable."""
    return text.strip().lower().replace(" ", "_").replace("-", "_")


def size_problem(size: int | None) -> str:
    """Why a file of `size` bytes cannot be taken ("" when it can)."""
    limit = settings.CONTACT_IMPORT_MAX_BYTES
    if not size:
        return "The file is empty."
    if size > limit:
        return (
            f"The file is {size / 1_048_576:.1f} MB; the limit is {limit / 1_048_576:.0f} MB. "
            "Split it into smaller files."
        )
    return ""


def read_head(upload: Any) -> bytes:
    """The first 64 KB of an uploaded file, leaving it at its start."""
    upload.seek(0)
    head = upload.read(HEAD_BYTES)
    upload.seek(0)
    return head


def choose_encoding(head: bytes, chosen: str) -> str:
    """The Python codec for the file ('utf-8-sig', 'utf-8' or 'latin-1'), or ValidationError on
    `encoding` when the chosen one cannot decode the start of the file."""
    if chosen not in ImportEncoding.values:
        raise ValidationError({"encoding": f"Choose one of: {', '.join(ImportEncoding.values)}."})
    if chosen == ImportEncoding.LATIN1:
        return "latin-1"
    if head.startswith(codecs.BOM_UTF8):
        codec = "utf-8-sig"
    else:
        codec = "utf-8"
    try:
        # Not final: the 64 KB may end inside a character.
        codecs.getincrementaldecoder(codec)().decode(head, final=len(head) < HEAD_BYTES)
    except UnicodeDecodeError as error:
        if chosen == ImportEncoding.AUTO:
            return "latin-1"
        line = head[: error.start].count(b"\n") + 1
        raise ValidationError(
            {
                "encoding": f"The file is not UTF-8 (line {line} has a byte UTF-8 cannot read). "
                "Choose Latin-1, or Detect, and upload it again."
            }
        ) from None
    return codec


@dataclass(frozen=True)
class Columns:
    """Where each contact field is in a row: column indexes, and the variable columns' keys."""

    width: int
    number: int
    name: int | None = None
    timezone: int | None = None
    variables: tuple[tuple[int, str], ...] = ()


def _looks_like_number(text: str) -> bool:
    digits = sum(char.isdigit() for char in text)
    return digits >= 5 and digits >= len(text.strip()) // 2


def map_columns(header: list[str], column_map: Mapping[str, str]) -> Columns:
    """The columns of a header row, from `column_map` (field -> header) or guessed from the names;
    ValidationError on `column_map` or `file` naming what is missing."""
    keys = [header_key(text) for text in header]
    problems: dict[str, list[str]] = {}
    unknown = sorted(set(column_map) - set(MAPPED_FIELDS))
    if unknown:
        problems.setdefault("column_map", []).append(
            f"Unknown field {', '.join(unknown)}; map only {', '.join(MAPPED_FIELDS)}."
        )
    found: dict[str, int] = {}
    for field_name in MAPPED_FIELDS:
        wanted = (column_map.get(field_name) or "").strip()
        if wanted:
            if header_key(wanted) in keys:
                found[field_name] = keys.index(header_key(wanted))
            else:
                problems.setdefault("column_map", []).append(
                    f"The header has no column {wanted!r} (for {field_name}); it has: {', '.join(header)}."
                )
            continue
        for guess in FIELD_HEADERS[field_name]:
            if guess in keys and keys.index(guess) not in found.values():
                found[field_name] = keys.index(guess)
                break
    if "number" not in found and "number" not in (column_map or {}):
        if header and _looks_like_number(header[0]):
            message = (
                "The first row looks like data, not a header: add a header row naming the columns (e.g. number,name)."
            )
        else:
            message = (
                "No column of phone numbers: name one 'number' or 'phone' (found: "
                f"{', '.join(text for text in header if text.strip()) or 'no names'}), or choose it."
            )
        problems.setdefault("file", []).append(message)
    variables: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for index, key in enumerate(keys):
        if not key or index in found.values():
            continue  # an unnamed column (a spreadsheet's trailing comma) carries nothing
        if key in seen:
            problems.setdefault("file", []).append(f"The header names the column {header[index]!r} twice.")
            continue
        seen[key] = index
        if not placeholders.CONTACT_KEY.fullmatch(key) or len(key) > 64:
            problems.setdefault("file", []).append(
                f"The column {header[index]!r} cannot become a variable: use letters, digits and spaces only."
            )
            continue
        variables.append((index, key))
    if problems:
        raise ValidationError(problems)
    return Columns(
        width=len(header),
        number=found["number"],
        name=found.get("name"),
        timezone=found.get("timezone"),
        variables=tuple(variables),
    )


def header_row(head: bytes, codec: str) -> list[str]:
    """The first row of the file from its first 64 KB, or ValidationError on `file`."""
    if b"\x00" in head:
        raise ValidationError({"file": NOT_CSV})
    text = codecs.getincrementaldecoder(codec)(errors="replace").decode(head, final=False)
    if not text.strip():
        raise ValidationError({"file": "The file is empty."})
    if "\n" not in text and "\r" not in text and len(head) >= HEAD_BYTES:
        raise ValidationError({"file": "The first row is longer than 64 KB: this is not a CSV contact list."})
    try:
        for row in csv.reader(io.StringIO(text.lstrip("\r\n"))):
            if any(cell.strip() for cell in row):
                return row
    except csv.Error as error:
        raise ValidationError({"file": f"The header row cannot be read as CSV: {error}."}) from None
    raise ValidationError({"file": "The file has no header row."})


class RowStream:
    """The data rows of a CSV file (after its header), streamed: (line, fields) per row, where fields
    is None and `problem` says why when the row cannot be parsed. `bytes_read` is the progress."""

    def __init__(self, binary: IO[bytes], codec: str) -> None:
        csv.field_size_limit(MAX_FIELD_CHARS)
        self._binary = binary
        self._text = io.TextIOWrapper(binary, encoding=codec, newline="")
        self._reader = csv.reader(self._text)
        self.problem = ""
        self.header: list[str] = []

    @property
    def bytes_read(self) -> int:
        return self._binary.tell()

    def read_header(self) -> list[str]:
        for _line, row in self:
            if row is not None and any(cell.strip() for cell in row):
                self.header = row
                return row
        raise FileProblem("The file has no header row.")

    def __iter__(self) -> Iterator[tuple[int, list[str] | None]]:
        reader = self._reader
        while True:
            line = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                self.problem = str(error)
                if "field larger than field limit" in self.problem:
                    self.problem = f"a field is longer than {MAX_FIELD_CHARS} characters"
                yield line, None
                continue
            except UnicodeDecodeError:
                raise FileProblem(
                    f"The file stops being readable as UTF-8 near line {line}: it mixes encodings, or is "
                    "Latin-1. Upload it again choosing Latin-1."
                ) from None
            yield line, row
