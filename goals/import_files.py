"""Reading a file of actuals (``goals.imports``): a CSV or XLSX file becomes a table of cells, and
each cell a checked value — a date, a number, a confidence, a note, a goal reference.

Nothing here trusts the file: CSV is decoded as UTF-8 (with or without a BOM) and anything else is
refused with a clear message; XLSX is read with openpyxl's read-only mode, after checking what the
archive unpacks to; the header's spellings are compared case-insensitively; rows are counted and
bounded (``ACTUALS_IMPORT_MAX_ROWS``), and so are bytes (``ACTUALS_IMPORT_MAX_BYTES``). A bad cell
is a ``CellError`` with the message a person sees beside the row and column."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import IO, Any

import openpyxl
from django.conf import settings
from openpyxl.utils.exceptions import InvalidFileException

from core.errors import InvalidInput
from core.writes import control_character

from .check_ins import DEFAULT_CONFIDENCE
from .models import ActualsImport

PLACES = Decimal("0.0001")
MAX_VALUE = Decimal("99999999999999.9999")  # numeric(18, 4)
NOTE_MAX = 5000


def max_bytes() -> int:
    return int(getattr(settings, "ACTUALS_IMPORT_MAX_BYTES", 5 * 1024 * 1024))


def max_rows() -> int:
    return int(getattr(settings, "ACTUALS_IMPORT_MAX_ROWS", 20000))


# --- Columns --------------------------------------------------------------------------------------

# The columns, and the header spellings each accepts (compared case-insensitively, with spaces,
# underscores and hyphens alike).
ALIASES: dict[str, tuple[str, ...]] = {
    "goal": ("goal", "goal id", "goal uuid"),
    "external_key": ("external key", "key", "goal key", "external id", "crm id"),
    "measured_on": ("date", "measured on", "measured", "as of", "day"),
    "value": ("value", "actual", "actuals", "amount", "measured value"),
    "confidence": ("confidence",),
    "note": ("note", "notes", "comment", "comments"),
}
COLUMN_OF = {alias: column for column, aliases in ALIASES.items() for alias in aliases}
LABELS = {
    "goal": "goal",
    "external_key": "external key",
    "measured_on": "date",
    "value": "value",
    "confidence": "confidence",
    "note": "note",
}


def _header_key(cell: Any) -> str:
    return re.sub(r"[\s_\-]+", " ", str(cell or "").strip().lower())


@dataclass(frozen=True)
class RowError:
    """What is wrong with one row: its number (the spreadsheet's row, or the API list's index),
    the column (as the file names it) and a message."""

    row: int
    column: str
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "message": self.message}


class CellError(Exception):
    pass


@dataclass
class Table:
    """A file read: its rows as (row number, column → cell), the header text of each column."""

    format: str
    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)


def _file_error(message: str) -> InvalidInput:
    return InvalidInput(message, fields={"file": [message]})


def _columns(header: Iterable[Any]) -> tuple[dict[int, str], dict[str, str], list[str]]:
    """Map the header's positions to columns; refuse a header that lacks a required column."""
    positions: dict[int, str] = {}
    labels: dict[str, str] = {}
    ignored: list[str] = []
    for index, cell in enumerate(header):
        text = str(cell).strip() if cell is not None else ""
        column = COLUMN_OF.get(_header_key(text))
        if column is None:
            if text:
                ignored.append(text[:60])
            continue
        if column in labels:
            raise _file_error(f"The columns “{labels[column]}” and “{text}” both give the {LABELS[column]}; keep one.")
        positions[index] = column
        labels[column] = text
    missing = [LABELS[c] for c in ("measured_on", "value") if c not in labels] + (
        [] if {"goal", "external_key"} & set(labels) else ["goal (or external key)"]
    )
    if missing:
        raise _file_error(
            "The first row must name the columns; missing: "
            + ", ".join(missing)
            + ". Accepted headers: goal or external key, date, value, confidence (optional), note (optional)."
        )
    return positions, labels, ignored


def _blank(values: Iterable[Any]) -> bool:
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in values)


def _table(format_: str, records: Iterator[tuple[int, list[Any] | tuple[Any, ...]]]) -> Table:
    """The header (the first row that is not blank) and the data rows, blank rows left out."""
    table = Table(format_)
    positions: dict[int, str] | None = None
    limit = max_rows()
    for number, values in records:
        if _blank(values):
            continue
        if positions is None:
            positions, table.labels, table.ignored = _columns(values)
            continue
        if len(table.rows) >= limit:
            raise _file_error(f"The file has more than {limit:,} rows; split it into files of at most {limit:,} rows.")
        cells = {column: values[i] if i < len(values) else None for i, column in positions.items()}
        table.rows.append((number, cells))
    if positions is None:
        raise _file_error("The file is empty: the first row names the columns, the rows below hold check-ins.")
    return table


def read_csv(data: bytes) -> Table:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _file_error(
            "The file is not UTF-8 text. Save it from your spreadsheet as “CSV UTF-8” and upload it again."
        ) from exc
    if "\x00" in text:
        raise _file_error("The file contains NUL characters: it is not a CSV file.")
    first_line = text.split("\n", 1)[0]
    try:
        dialect: Any = csv.Sniffer().sniff(first_line, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        return _table(ActualsImport.Format.CSV, ((i, row) for i, row in enumerate(reader, start=1)))
    except csv.Error as exc:
        raise _file_error(f"The CSV file could not be read ({exc}).") from exc


# An XLSX file is a zip archive: what it unpacks to is bounded too (a small file must not unpack to
# gigabytes of XML). 20,000 rows of a few columns unpack to a few megabytes.
UNPACKED_PER_PACKED = 20


def read_xlsx(data: bytes) -> Table:
    """The first worksheet, streamed (openpyxl's read-only mode); cell values as Excel stores them."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise _file_error("The file could not be read as an Excel workbook (.xlsx).") from exc
    if unpacked > UNPACKED_PER_PACKED * max_bytes():
        raise _file_error("The workbook unpacks to too much data; save only the sheet of check-ins.")
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError, TypeError) as exc:
        raise _file_error("The file could not be read as an Excel workbook (.xlsx).") from exc
    try:
        if not book.worksheets:
            raise _file_error("The workbook has no worksheet.")
        sheet = book.worksheets[0]
        rows = ((i, row) for i, row in enumerate(sheet.iter_rows(min_row=1, values_only=True), start=1))
        return _table(ActualsImport.Format.XLSX, rows)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as exc:
        raise _file_error("The file could not be read as an Excel workbook (.xlsx).") from exc
    finally:
        book.close()


def read_upload(file_name: str, stream: IO[bytes]) -> tuple[Table, str]:
    """The table of an uploaded file and the file's sha256; ``InvalidInput`` for anything else."""
    limit = max_bytes()
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise _file_error(f"The file is larger than {limit // (1024 * 1024)} MB; split it into smaller files.")
    name = file_name.lower()
    if name.endswith(".csv"):
        table = read_csv(data)
    elif name.endswith(".xlsx"):
        table = read_xlsx(data)
    elif name.endswith(".xls"):
        raise _file_error("Old Excel files (.xls) are not read: save the sheet as .xlsx or as CSV UTF-8.")
    else:
        raise _file_error("Upload a CSV (.csv) or Excel (.xlsx) file.")
    return table, hashlib.sha256(data).hexdigest()


# --- Cells ------------------------------------------------------------------------------------------

ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
SURROGATE = re.compile("[\ud800-\udfff]")
NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")


def parse_date(cell: Any) -> dt.date:
    if isinstance(cell, dt.datetime):  # an Excel date cell
        return cell.date()
    if isinstance(cell, dt.date):
        return cell
    if isinstance(cell, str) and ISO_DATE.fullmatch(cell.strip()):
        try:
            return dt.date.fromisoformat(cell.strip())
        except ValueError:
            pass
    if cell is None or (isinstance(cell, str) and not cell.strip()):
        raise CellError("Bad date: the date is missing (YYYY-MM-DD, e.g. 2025-03-31).")
    raise CellError(f"Bad date “{str(cell)[:40]}”: write it as YYYY-MM-DD (e.g. 2025-03-31) or use a date cell.")


def _decimal(cell: Any) -> Decimal:
    if isinstance(cell, bool):
        raise CellError("Bad number: expected a number, not true/false.")
    if isinstance(cell, int):
        return Decimal(cell)
    if isinstance(cell, float):  # an Excel number cell: binary noise beyond 4 places is not data
        number = Decimal(repr(cell))
        if not number.is_finite():
            raise CellError("Bad number: expected a finite number.")
        rounded = number.quantize(PLACES) if abs(number) <= MAX_VALUE else number
        return rounded if abs(rounded - number) < Decimal("1e-9") else number
    if isinstance(cell, Decimal):
        return cell
    text = str(cell if cell is not None else "").strip()
    if not text:
        raise CellError("Bad number: the value is missing.")
    if not NUMBER.fullmatch(text):
        raise CellError(f"Bad number “{text[:40]}”: write digits with “.” as the decimal point (e.g. 1250.5).")
    try:
        return Decimal(text)
    except InvalidOperation as exc:
        raise CellError(f"Bad number “{text[:40]}”.") from exc


def parse_value(cell: Any) -> Decimal:
    number = _decimal(cell)
    if abs(number) > MAX_VALUE:
        raise CellError("Bad number: at most 14 digits before the decimal point.")
    if number != number.quantize(PLACES):
        raise CellError("Bad number: at most 4 decimal places.")
    return number.quantize(PLACES)


def parse_confidence(cell: Any) -> int:
    if cell is None or (isinstance(cell, str) and not cell.strip()):
        return DEFAULT_CONFIDENCE
    try:
        number = _decimal(cell)
    except CellError as exc:
        raise CellError("Bad confidence: a whole number from 1 to 5.") from exc
    if number != number.to_integral_value():
        raise CellError("Bad confidence: a whole number from 1 to 5.")
    if not 1 <= number <= 5:
        raise CellError(f"Confidence out of range: {number.normalize():f} is not from 1 to 5.")
    return int(number)


def _storable(text: str) -> bool:
    """Text PostgreSQL can store and a person can read: no NUL, no control character, no lone surrogate."""
    return "\x00" not in text and not control_character(text, multiline=True) and not SURROGATE.search(text)


def parse_note(cell: Any) -> str:
    if cell is None:
        return ""
    if isinstance(cell, bool) or not isinstance(cell, str | int | float | Decimal):
        raise CellError("Bad note: expected text.")
    text = (str(cell) if isinstance(cell, str) else format(_decimal(cell).normalize(), "f")).strip()
    if not _storable(text):
        raise CellError("The note contains a control character; remove it.")
    if len(text) > NOTE_MAX:
        raise CellError(f"The note is too long (at most {NOTE_MAX} characters).")
    return text


def reference(cell: Any) -> str:
    """A goal's id or external key as a cell gives it ('' for none; text no goal can have for junk)."""
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        cell = int(cell)  # a CRM id typed into a number cell
    if isinstance(cell, bool) or not isinstance(cell, str | int | float | Decimal):
        return "?"
    text = str(cell).strip()
    return text if _storable(text) else "?"
