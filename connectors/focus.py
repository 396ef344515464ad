"""FinOps FOCUS cost exports (`PAVED_COST_PATH`, a glob of CSV, CSV.gz and Parquet files).

Rows stream out one at a time: a CSV file through the `csv` module (every cell a string, so an
id such as `012345678901` keeps its leading zero), a Parquet file in record batches of
`batch_size` rows (integer id columns are turned into strings, timestamps without a zone are
UTC as FOCUS requires). Memory holds one batch, never a whole file or the file list's rows.
Column sets of FOCUS 1.0, 1.1 and 1.2 all work: the model reads columns present since 1.0 and
missing optional ones are null. Payloads are JSON-able (timestamps as ISO 8601, maps as dicts).

Keys. FOCUS has no row id, and a provider re-delivers a month (restated, or under a new file
name) many times; so an item's key is a hash of the row's identity, independent of the file
and of the amounts: billing and sub-account, provider, charge period, charge category, class
and frequency, service, resource, SKU and price, pricing category and unit, region and zone,
commitment discount and its status, description and currency. Amounts and tags are left out on
purpose: a restated row has new amounts (and back-filled tags) and must replace the old row,
not sit beside it. Two rows of one file with the same identity (rare: a provider splitting one
charge) get `#2`, `#3`, ... in file order. The same row in a CSV and a Parquet delivery gets the
same key, since timestamps are normalised first. Files are read in name order, so the warehouse,
keeping the last row per key, keeps the newest delivery when names sort by date.

Rejections are keyed `<file name>:<row number>` (1-based data rows) with a reason naming both.
Files of other types (an export's manifest.json, say) are skipped with a warning.
"""

from __future__ import annotations

import csv
import glob
import gzip
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import ValidationError

from connectors.http import SourceError
from connectors.items import Item, Rejection, reason
from models.sources.focus import FOCUS_ROW, FocusRow

log = logging.getLogger(__name__)

SOURCE = "focus"
# A CSV row whose cells do not line up with the header carries its problem under this key.
ROW_PROBLEM = "__row_problem__"
DEFAULT_BATCH_SIZE = 10_000

# The row identity: file-independent and amount-independent (see the module docstring).
IDENTITY_COLUMNS: tuple[str, ...] = (
    "ProviderName",
    "BillingAccountId",
    "SubAccountId",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
    "ChargeClass",
    "ChargeFrequency",
    "ServiceName",
    "ResourceId",
    "SkuId",
    "SkuPriceId",
    "PricingCategory",
    "PricingUnit",
    "RegionId",
    "AvailabilityZone",
    "CommitmentDiscountId",
    "CommitmentDiscountStatus",
    "ChargeDescription",
    "BillingCurrency",
)


def read_focus(
    pattern: str, *, batch_size: int = DEFAULT_BATCH_SIZE
) -> Iterator[Item[FocusRow] | Rejection]:
    """Every row of every FOCUS file matching `pattern` (recursive `**` allowed), in file name
    order: an :class:`Item` keyed by the row's identity hash, or a :class:`Rejection`.

    Raises :class:`SourceError` when no file matches.
    """
    paths = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
    if not paths:
        raise SourceError(f"{SOURCE}: no FOCUS file matches {pattern!r} (PAVED_COST_PATH)")
    for path in paths:
        yield from read_focus_file(path, batch_size=batch_size)


def read_focus_file(
    path: Path, *, batch_size: int = DEFAULT_BATCH_SIZE
) -> Iterator[Item[FocusRow] | Rejection]:
    """The rows of one CSV, CSV.gz or Parquet file (see :func:`read_focus`)."""
    name = path.name.lower()
    if name.endswith(".parquet"):
        rows = _parquet_rows(path, batch_size)
    elif name.endswith((".csv", ".csv.gz")):
        rows = _csv_rows(path)
    else:
        log.warning("%s: skipping %s, neither CSV nor Parquet", SOURCE, path)
        return
    occurrences: Counter[str] = Counter()
    row_number = 0
    try:
        for row_number, payload in enumerate(rows, start=1):
            yield _row_result(path, row_number, payload, occurrences)
    except (OSError, UnicodeDecodeError, csv.Error, pa.ArrowException) as exc:
        # The file is cut short or not what its name says: keep what was read, reject the rest.
        problem = " ".join(str(exc).split())[:300]
        yield Rejection(
            SOURCE,
            f"{path.name}:{row_number + 1}",
            None,
            f"{path.name}: unreadable from row {row_number + 1} on "
            f"({exc.__class__.__name__}: {problem})",
        )


def row_identity_key(model: FocusRow, payload: dict[str, Any]) -> str:
    """The hash of a row's identity columns, timestamps normalised to UTC."""
    values: list[str | None] = []
    for column in IDENTITY_COLUMNS:
        if column in ("ChargePeriodStart", "ChargePeriodEnd"):
            values.append(getattr(model, column).isoformat())
            continue
        value = payload.get(column)
        values.append(None if value is None or value == "" else str(value).strip())
    text = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _row_result(
    path: Path, row_number: int, payload: dict[str, Any], occurrences: Counter[str]
) -> Item[FocusRow] | Rejection:
    where = f"{path.name}:{row_number}"
    problem = payload.get(ROW_PROBLEM)
    if problem:
        return Rejection(SOURCE, where, payload, f"{path.name}: row {row_number}: {problem}")
    try:
        model = FOCUS_ROW.validate_python(payload)
    except ValidationError as exc:
        return Rejection(SOURCE, where, payload, f"{path.name}: row {row_number}: {reason(exc)}")
    key = row_identity_key(model, payload)
    occurrences[key] += 1
    n = occurrences[key]
    return Item(key if n == 1 else f"{key}#{n}", model, payload)


def _csv_rows(path: Path) -> Iterator[dict[str, Any]]:
    with _open_text(path) as handle:
        reader = csv.DictReader(handle)
        width = len(reader.fieldnames or [])
        for row in reader:
            extra = row.pop(None, None)  # type: ignore[call-overload]
            if extra is not None:
                row[ROW_PROBLEM] = f"{len(extra)} more cell(s) than the header's {width} columns"
            elif any(value is None for value in row.values()):
                cells = sum(value is not None for value in row.values())
                row[ROW_PROBLEM] = f"{cells} cell(s), fewer than the header's {width} columns"
            yield row


def _open_text(path: Path) -> IO[str]:
    # utf-8-sig: a BOM, which Excel and some exporters write, is not part of the first column.
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


def _parquet_rows(path: Path, batch_size: int) -> Iterator[dict[str, Any]]:
    with pq.ParquetFile(path) as parquet:
        for batch in parquet.iter_batches(batch_size=batch_size):
            table = _normalised(pa.Table.from_batches([batch]))
            maps = [f.name for f in table.schema if pa.types.is_map(f.type)]
            for row in table.to_pylist():
                for name in maps:
                    # pyarrow hands a map (Tags, in some writers) over as a list of pairs.
                    if row[name] is not None:
                        row[name] = dict(row[name])
                yield row


def _normalised(table: pa.Table) -> pa.Table:
    """The batch as JSON-able columns, converted by Arrow (fast, and without pandas): integer
    ids, decimals and dates as strings; timestamps as ISO 8601 text in UTC (a timestamp
    without a zone is UTC, as FOCUS requires)."""
    columns = []
    for field, column in zip(table.schema, table.columns, strict=True):
        kind = field.type
        if field.name.endswith("Id") and pa.types.is_integer(kind):
            # The writer stored the id as a number (leading zeros, if any, are already gone);
            # its digits are the id Paved can know.
            column = column.cast(pa.string())
        elif pa.types.is_timestamp(kind):
            utc = column.cast(pa.timestamp(kind.unit, tz="UTC"))  # type: ignore[attr-defined]
            text = pc.call_function(
                "strftime", [utc], pc.StrftimeOptions(format="%Y-%m-%dT%H:%M:%SZ")
            )
            # Arrow writes the fraction for sub-second units; a whole second needs none.
            for fraction in (".000000Z", ".000Z"):
                text = pc.call_function(
                    "replace_substring", [text], pc.ReplaceSubstringOptions(fraction, "Z")
                )
            column = text
        elif pa.types.is_decimal(kind) or pa.types.is_date(kind):
            column = column.cast(pa.string())
        columns.append(column)
    return pa.table(columns, names=table.schema.names)
