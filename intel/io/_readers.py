"""Readers: every supported source becomes one DataFrame of the source's columns as read.

Delimited text (CSV/TSV, plain, .gz, .bz2, .xz or a .zip holding one table) goes
through pandas' C parser, with the delimiter sniffed from the first lines and the
encoding taken from a BOM, else UTF-8, else latin-1. Id columns whose values carry
leading zeros are read as text so none is lost; dates are parsed afterwards with
Arrow's vectorised ``strptime``. Rows with more fields than the header are set aside
in :attr:`Source.rejected` (the loader quarantines them as ``wrong_field_count``)
unless they are most of the file, which then is not the table the sniffer took it for.
A directory stands for the incident files directly inside it.
Anything unreadable ends in a :class:`ParseError` that names the file and the problem.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import hashlib
import io
import lzma
import re
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from .._provenance import announce
from ..exceptions import InputError, OptionalDependencyError, ParseError

TEXT_SUFFIXES = (".csv", ".tsv", ".tab", ".txt", ".psv")
COMPRESSED = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz"}
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")
PARQUET_SUFFIXES = (".parquet", ".geoparquet", ".pq")
VECTOR_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".fgb", ".kml", ".kmz", ".gml")
# what a directory given as a source contributes: files the readers take, not READMEs or notes
INCIDENT_SUFFIXES = tuple(dict.fromkeys(
    TEXT_SUFFIXES + tuple(COMPRESSED) + (".zip",) + EXCEL_SUFFIXES + PARQUET_SUFFIXES + VECTOR_SUFFIXES))
_DELIMITERS = (",", "\t", ";", "|")
_HEAD_BYTES = 1 << 16
_FIELD_COUNT = re.compile(r"Expected \d+ fields in line \d+, saw \d+")
_TEXT_CHARS = 1000  # of a rejected row's raw text kept for the quarantine detail

# Column plan: (headers, file label, sample values per header) -> {header: "string"} for the columns that must
# be read as text; the loader decides it from the headers.
Plan = Callable[[list[str], str, Mapping[str, list[str]]], Mapping[str, str]]


@dataclass
class Source:
    """What was read, and how."""

    frame: pd.DataFrame
    label: str
    kind: str
    files: list[str] = field(default_factory=list)
    sha256: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    file_index: np.ndarray | None = None  # which file each row came from (several files)
    # rows with more fields than the header, not in ``frame``: ``row`` (1-based data row number, counted as
    # ``frame``'s rows are, the rejected ones included), ``fields``, ``expected`` and the raw ``text``
    rejected: pd.DataFrame | None = None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_source(
    source: Any,
    *,
    plan: Plan,
    table: str | None = None,
    query: str | None = None,
    sheet: str | int | None = None,
    layer: str | None = None,
) -> Source:
    """Read ``source`` (path(s), URL, DataFrame) into a :class:`Source`."""
    import geopandas as gpd

    if isinstance(source, pd.DataFrame):
        kind = "geodataframe" if isinstance(source, gpd.GeoDataFrame) else "dataframe"
        return Source(frame=source, label=f"<{type(source).__name__}>", kind=kind)
    if _is_sql(source):
        return _read_sql(source, table=table, query=query)
    if table is not None or query is not None:
        raise InputError(f"table= and query= go with a SQLAlchemy URL (e.g. 'sqlite:///crimes.db'); got source {source!r}.")
    if isinstance(source, (list, tuple)):
        if not source:
            raise InputError("load_incidents: an empty list of files was given.")
        paths = [Path(p) for p in expand_directories(source)]
    elif isinstance(source, (str, Path)):
        text = str(source)
        if any(ch in text for ch in "*?[") and not Path(text).exists():
            matches = sorted(_glob(text))
            if not matches:
                raise InputError(f"{text}: no file matches this pattern.")
            paths = [Path(p) for p in expand_directories(matches)]
        else:
            paths = [Path(p) for p in expand_directories([text])]
    else:
        raise InputError(
            f"load_incidents: source must be a file path, a list of paths, a SQLAlchemy URL or a (Geo)DataFrame; "
            f"got {type(source).__name__}."
        )
    for p in paths:
        if not p.exists():
            raise InputError(f"{p}: no such file. Check the path (the current directory is {Path.cwd()}).")
    from concurrent.futures import ThreadPoolExecutor

    # hashlib releases the GIL: checksum the files on another core while they are parsed
    with ThreadPoolExecutor(max_workers=1) as pool:
        digests = [pool.submit(sha256_of, p) for p in paths]
        parts = [_read_file(p, plan=plan, sheet=sheet, layer=layer) for p in paths]
        sha = [d.result() for d in digests]
    if len(parts) == 1:
        part = parts[0]
        part.sha256 = sha
        return part
    source = _concat(parts, paths)
    source.sha256 = sha
    return source


def expand_directories(inputs: Iterable[str | Path]) -> list[str]:
    """Replace each directory by the incident files directly inside it.

    Parameters
    ----------
    inputs : iterable of str or Path
        Files, directories, glob patterns or SQLAlchemy URLs.

    Returns
    -------
    list of str
        The inputs in order, each directory replaced by its files whose suffix is in
        :data:`INCIDENT_SUFFIXES` (hidden files left out), sorted by name; everything
        else passes through unchanged.

    Raises
    ------
    InputError
        A directory holds no such file.
    """
    sources: list[str] = []
    for item in inputs:
        text = str(item)
        path = Path(text)
        if "://" not in text and path.is_dir():
            files = sorted(str(p) for p in path.iterdir()
                           if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in INCIDENT_SUFFIXES)
            if not files:
                raise InputError(f"{text} is a directory with no incident files in it (looked for "
                                 f"{', '.join(INCIDENT_SUFFIXES)}); give the files or a pattern such as "
                                 f"'{text}/*.csv'.")
            sources.extend(files)
        else:
            sources.append(text)
    return sources


def _glob(pattern: str) -> list[str]:
    import glob

    return glob.glob(pattern)


def _concat(parts: list[Source], paths: list[Path]) -> Source:
    kinds = {p.kind for p in parts}
    cols = [list(p.frame.columns) for p in parts]
    if any(c != cols[0] for c in cols[1:]):
        bad = next(i for i, c in enumerate(cols) if c != cols[0])
        raise InputError(
            f"{paths[bad]}: its columns differ from {paths[0]}'s; files loaded together must share one layout. "
            f"Load them separately and concatenate the incidents instead."
        )
    # column by column: pd.concat of whole frames would copy every column to consolidate blocks
    frame = pd.DataFrame(index=pd.RangeIndex(sum(len(p.frame) for p in parts)))
    for k, name in enumerate(cols[0]):
        frame[name] = pd.concat([p.frame.iloc[:, k] for p in parts], ignore_index=True)
    index = np.repeat(np.arange(len(parts)), [len(p.frame) for p in parts])
    details = dict(parts[0].details)
    details["files"] = [p.details for p in parts]
    return Source(
        frame=frame,
        label=f"{paths[0]} (+{len(paths) - 1} more)",
        kind="+".join(sorted(kinds)),
        files=[str(p) for p in paths],
        details=details,
        file_index=index,
        rejected=_concat_rejected(parts),
    )


def _concat_rejected(parts: list[Source]) -> pd.DataFrame | None:
    """The parts' rejected rows, numbered on from the rows (read and rejected) of the files before."""
    if all(p.rejected is None for p in parts):
        return None
    offset, pieces = 0, []
    for p in parts:
        if p.rejected is not None:
            pieces.append(p.rejected.assign(row=p.rejected["row"] + offset))
            offset += len(p.rejected)
        offset += len(p.frame)
    return pd.concat(pieces, ignore_index=True)


def _suffixes(path: Path) -> tuple[str, str]:
    """(compression suffix or '', table suffix)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSED:
        return suffixes[-1], (suffixes[-2] if len(suffixes) > 1 else ".csv")
    return "", (suffixes[-1] if suffixes else "")


def _read_file(path: Path, *, plan: Plan, sheet: Any, layer: str | None) -> Source:
    compression, suffix = _suffixes(path)
    with open(path, "rb") as fh:
        magic = fh.read(8)
    if not magic:
        raise ParseError(f"{path}: the file is empty (0 bytes). Export the data again.")
    if suffix in EXCEL_SUFFIXES:
        return _read_excel(path, sheet)
    if suffix in PARQUET_SUFFIXES or magic[:4] == b"PAR1":
        return _read_parquet(path)
    if suffix == ".zip" or magic[:4] == b"PK\x03\x04" and suffix not in EXCEL_SUFFIXES:
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/")]
        if any(n.lower().endswith(".shp") for n in names):
            return _read_vector(path, layer)
        tables = [n for n in names if n.lower().endswith(TEXT_SUFFIXES)] or names
        if not tables:
            raise ParseError(f"{path}: the zip archive is empty.")
        if len(tables) > 1:
            announce("%s holds %d tables; reading the first, %s", path, len(tables), tables[0])
        return _read_delimited(path, plan=plan, member=tables[0])
    if suffix == ".json":
        return _read_json(path, layer)
    if suffix in VECTOR_SUFFIXES or magic[:6] == b"SQLite" and suffix == ".gpkg":
        return _read_vector(path, layer)
    if magic[:2] == b"\x1f\x8b":
        compression = ".gz"
    elif magic[:3] == b"BZh":
        compression = ".bz2"
    elif magic[:6] == b"\xfd7zXZ\x00":
        compression = ".xz"
    return _read_delimited(path, plan=plan, compression=compression)


# ---------------------------------------------------------------------------- delimited text

def _open_binary(path: Path, compression: str, member: str | None) -> io.BufferedIOBase:
    if member is not None:
        return zipfile.ZipFile(path).open(member)
    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(compression, open)
    return opener(path, "rb")


def _head(path: Path, compression: str, member: str | None) -> bytes:
    try:
        with _open_binary(path, compression, member) as fh:
            return fh.read(_HEAD_BYTES)
    except (OSError, EOFError, zipfile.BadZipFile, lzma.LZMAError) as exc:
        raise ParseError(f"{path}: cannot decompress the file ({exc}). It may be truncated or not really "
                         f"{compression or 'compressed'}.") from None


def _encoding(path: Path, head: bytes) -> str:
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ParseError(f"{path}: the file is UTF-16 encoded; save it as UTF-8 (or latin-1) CSV and load it again.")
    if b"\x00" in head:
        raise ParseError(f"{path}: the file holds binary data (NUL bytes in the first {len(head)} bytes), "
                         "not a delimited text table. Is it the right file, or a different format with a wrong suffix?")
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 4:  # a character cut by the end of the sample
            return "utf-8"
    announce("%s is not valid UTF-8: reading it as latin-1", path)
    return "latin-1"


def _looks_binary(text: str) -> bool:
    if not text:
        return False
    control = sum(1 for ch in text[:4096] if ord(ch) < 32 and ch not in "\r\n\t")
    return control > 0.05 * min(len(text), 4096)


def _sniff(text: str) -> str:
    lines = [ln for ln in text.splitlines()[:30] if ln.strip()]
    if len(lines) > 1 and len(text) >= _HEAD_BYTES - 8:
        lines = lines[:-1]  # the last line may be cut short by the sample
    best, best_fields = ",", 1
    for cand in _DELIMITERS:
        try:
            counts = [len(row) for row in csv.reader(lines, delimiter=cand)]
        except csv.Error:
            continue
        if not counts:
            continue
        first = counts[0]
        consistent = sum(c == first for c in counts) >= 0.9 * len(counts)
        if first > best_fields and consistent:
            best, best_fields = cand, first
    return best


def _header(text: str, delimiter: str) -> list[str]:
    # cells as pandas will name the columns (unstripped), so the column plan's keys match
    for row in csv.reader(io.StringIO(text), delimiter=delimiter):
        if row and any(cell.strip() for cell in row):
            return row
    return []


def _sample(text: str, delimiter: str, header: list[str]) -> dict[str, list[str]]:
    """The first rows of the sampled text, column by column, as strings (for the loader's column plan)."""
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))[1:200]
    if len(text) >= _HEAD_BYTES - 8 and rows:
        rows = rows[:-1]  # possibly cut short by the end of the sample
    return {name: [r[k] for r in rows if k < len(r)] for k, name in enumerate(header)}


def _read_delimited(path: Path, *, plan: Plan, compression: str = "", member: str | None = None) -> Source:
    head = _head(path, compression, member)
    if not head.strip():
        raise ParseError(f"{path}: the file is empty (no header, no rows). Export the data again.")
    encoding = _encoding(path, head)
    text = head.decode(encoding, errors="ignore").lstrip("\ufeff")
    if _looks_binary(text):
        raise ParseError(f"{path}: the file looks like binary data, not a delimited text table "
                         "(many control characters). Is it the right file?")
    delimiter = _sniff(text)
    header = _header(text, delimiter)
    types = dict(plan(header, str(path), _sample(text, delimiter, header)))
    details = {"format": "csv", "delimiter": delimiter, "encoding": encoding, "compression": compression.lstrip(".") or None}
    if member:
        details["zip_member"] = member

    try:
        frame, rejected = _pandas_csv(path, compression, member, delimiter, encoding, types)
    except UnicodeDecodeError:
        announce("%s has bytes that are not UTF-8: reading it as latin-1", path)
        encoding = details["encoding"] = "latin-1"
        frame, rejected = _pandas_csv(path, compression, member, delimiter, encoding, types)
    details["engine"] = "pandas-c"
    if len(frame.columns) == 0:
        raise ParseError(f"{path}: no columns could be read.")
    if len(frame) == 0:
        raise ParseError(f"{path}: the file has a header ({len(frame.columns)} columns: {list(frame.columns)[:8]}) "
                         "but no data rows.")
    return Source(frame=frame, label=str(path), kind="csv", files=[str(path)], details=details, rejected=rejected)


def _pandas_csv(path, compression, member, delimiter, encoding, types) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The table, and its rows with more fields than the header (None when there are none)."""
    # pandas' C parser streams decompression and parsing in one pass; on gzip exports it beat
    # Arrow's reader here (decompression dominates), and it copes with huge fields and quoted newlines.
    # Only columns the plan names are forced to text: forcing costs time, and pandas already reads
    # date strings and names as text.
    dtype = {c: "str" for c, t in types.items() if t == "string"}
    try:
        return _c_read(path, compression, member, sep=delimiter, encoding=encoding, dtype=dtype or None), None
    except UnicodeDecodeError:
        raise
    except pd.errors.EmptyDataError:
        raise ParseError(f"{path}: the file has no columns to read (empty or blank lines only).") from None
    except (pd.errors.ParserError, pd.errors.ParserWarning, ValueError, OverflowError, MemoryError, OSError,
            EOFError) as exc:
        error = _unreadable(path, delimiter, exc)
        if not (isinstance(exc, pd.errors.ParserWarning) or _FIELD_COUNT.search(str(exc))):
            raise error from None
    # only now, with rows too long for the header, pay for a second pass over the file
    return _without_long_rows(path, compression, member, delimiter, encoding, dtype, error)


def _c_read(path, compression, member, **options) -> pd.DataFrame:
    with _open_binary(path, compression, member) as fh, warnings.catch_warnings():
        # a first data row longer than the header would make pandas take the first column as an index
        # (shifting every column) or, with index_col=False, cut that row and later ones short: treat it
        # as the error pandas raises for any later long row
        warnings.filterwarnings("error", message="Length of header or names", category=pd.errors.ParserWarning)
        return pd.read_csv(fh, engine="c", low_memory=False, index_col=False, **options)


def _unreadable(path: Path, delimiter: str, exc: BaseException) -> ParseError:
    if isinstance(exc, pd.errors.ParserWarning):  # pandas' text speaks of index_col=False, which no user set
        first = "the first data row has more fields than the header"
    else:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ParseError(
        f"{path}: cannot be read as a {delimiter!r}-delimited table: {first}. Check the delimiter, quoting "
        "and line endings; a spreadsheet's 'Save as CSV (UTF-8)' usually fixes it."
    )


def _without_long_rows(path, compression, member, delimiter, encoding, dtype, error: ParseError
                       ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the table leaving out its rows with more fields than the header, and return those rows.

    The rows are found with Python's csv module and handed to pandas as ``skiprows``; pandas must
    then read the rest without complaint and find exactly the other data rows, which checks that both
    tokenisers split the file alike, so the row numbers are exact. Where they disagree, or where
    most rows are too long (a wrong delimiter, not a few broken lines), ``error`` is raised.
    """
    n_data, expected, long_rows = _long_rows(path, compression, member, delimiter, encoding)
    if not long_rows:
        raise error
    if 2 * len(long_rows) > n_data:
        raise ParseError(f"{error} {len(long_rows):,} of the {n_data:,} data rows have more fields than the "
                         f"header ({expected}).")
    try:
        frame = _c_read(path, compression, member, sep=delimiter, encoding=encoding, dtype=dtype,
                        skiprows={record for record, *_ in long_rows})
    except UnicodeDecodeError:
        raise
    except (pd.errors.ParserError, pd.errors.ParserWarning, ValueError, OverflowError, MemoryError, OSError,
            EOFError):
        raise error from None
    if len(frame) != n_data - len(long_rows):
        raise error
    rejected = pd.DataFrame({
        "row": np.array([row for _, row, _, _ in long_rows], dtype=np.int64),
        "fields": np.array([fields for _, _, fields, _ in long_rows], dtype=np.int64),
        "expected": expected,
        "text": pd.array([text for *_, text in long_rows], dtype="string"),
    })
    return frame, rejected


def _long_rows(path, compression, member, delimiter, encoding) -> tuple[int, int, list[tuple[int, int, int, str]]]:
    """(data rows, header fields, rows with more fields than the header).

    Each long row is (record index as pandas counts it for ``skiprows``: 0-based over the header,
    blank lines and rows, a quoted newline not starting a new one; 1-based data row number, as
    the loader numbers ``source_row``: blank lines not counted; number of fields; raw text).
    """
    lines: list[str] = []

    def physical(fh):  # keep the lines of the current record, for its raw text
        for line in fh:
            lines.append(line)
            yield line

    limit = csv.field_size_limit()
    csv.field_size_limit(2**31 - 1)  # pandas has no field size limit; neither may the scan
    try:
        with _open_binary(path, compression, member) as raw, \
                io.TextIOWrapper(raw, encoding=encoding, newline="") as fh:
            expected, n_data, long_rows = 0, 0, []
            for record, row in enumerate(csv.reader(physical(fh), delimiter=delimiter)):
                # pandas skips blank and spaces-only lines, yet counts them in its record index
                if row and not (len(row) == 1 and not row[0].strip(" \t")):
                    if not expected:
                        expected = len(row)
                    else:
                        n_data += 1
                        if len(row) > expected:
                            text = "".join(lines).rstrip("\r\n")
                            if len(text) > _TEXT_CHARS:
                                text = text[:_TEXT_CHARS] + "..."
                            long_rows.append((record, n_data, len(row), text))
                lines.clear()
    except csv.Error:
        return 0, 0, []
    finally:
        csv.field_size_limit(limit)
    return n_data, expected, long_rows


# ---------------------------------------------------------------------------- other formats

def _read_excel(path: Path, sheet: Any) -> Source:
    if path.suffix.lower() == ".xls":
        try:
            import xlrd  # noqa: F401
        except ImportError:
            raise OptionalDependencyError(f"{path}: old .xls workbooks need xlrd: pip install xlrd "
                                          "(or save the sheet as .xlsx or CSV).") from None
    try:
        frame = pd.read_excel(path, sheet_name=0 if sheet is None else sheet)
    except ValueError as exc:
        raise InputError(f"{path}: {exc}. Pick a sheet with sheet=<name or 0-based number>.") from None
    except Exception as exc:  # openpyxl raises many kinds on corrupt workbooks
        raise ParseError(f"{path}: cannot read the workbook ({type(exc).__name__}: {exc}).") from None
    if len(frame) == 0:
        raise ParseError(f"{path}: sheet {sheet if sheet is not None else 0!r} has no data rows.")
    return Source(frame=frame, label=str(path), kind="excel", files=[str(path)],
                  details={"format": "excel", "sheet": sheet if sheet is not None else 0})


def _read_parquet(path: Path) -> Source:
    import geopandas as gpd
    import pyarrow.parquet as pq

    try:
        meta = pq.read_schema(path).metadata or {}
        if b"geo" in meta:
            frame = gpd.read_parquet(path)
            kind = "geoparquet"
        else:
            frame = pd.read_parquet(path)
            kind = "parquet"
    except (pa.ArrowInvalid, OSError) as exc:
        raise ParseError(f"{path}: cannot read it as Parquet ({exc}).") from None
    if len(frame) == 0:
        raise ParseError(f"{path}: the Parquet file has no rows.")
    return Source(frame=frame, label=str(path), kind=kind, files=[str(path)], details={"format": kind})


def _read_vector(path: Path, layer: str | None) -> Source:
    import geopandas as gpd

    target = str(path)
    if path.suffix.lower() == ".kmz":
        target = f"/vsizip/{path}"
    try:
        frame = gpd.read_file(target, layer=layer, engine="pyogrio")
    except Exception as exc:  # pyogrio/GDAL errors have no common base class
        raise ParseError(f"{path}: cannot read it as a vector layer ({type(exc).__name__}: {exc}).") from None
    if len(frame) == 0:
        raise ParseError(f"{path}: the layer has no features.")
    return Source(frame=frame, label=str(path), kind="vector", files=[str(path)],
                  details={"format": path.suffix.lower().lstrip("."), "layer": layer})


def _read_json(path: Path, layer: str | None) -> Source:
    """GeoJSON, else a JSON array of records (e.g. a Socrata API download)."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if b'"FeatureCollection"' in head or b'"Feature"' in head:
        return _read_vector(path, layer)
    try:
        frame = pd.read_json(path, orient="records", dtype=False)
    except ValueError as exc:
        raise ParseError(f"{path}: cannot read it as GeoJSON or as a JSON array of records ({exc}).") from None
    if len(frame) == 0:
        raise ParseError(f"{path}: the JSON holds no records.")
    return Source(frame=frame, label=str(path), kind="json", files=[str(path)], details={"format": "json"})


def _is_sql(source: Any) -> bool:
    if isinstance(source, str):
        return "://" in source and not Path(source).exists()
    mod = type(source).__module__
    return mod.startswith("sqlalchemy")


def _read_sql(source: Any, *, table: str | None, query: str | None) -> Source:
    try:
        import sqlalchemy as sa
    except ImportError:  # pragma: no cover - declared dependency
        raise OptionalDependencyError("Reading SQL needs SQLAlchemy: pip install sqlalchemy") from None
    if (table is None) == (query is None):
        raise InputError("A SQL source needs exactly one of table='name' or query='SELECT ...'.")
    engine = sa.create_engine(source) if isinstance(source, str) else source
    label = engine.url.render_as_string(hide_password=True) if hasattr(engine, "url") else repr(source)
    try:
        if table is not None:
            frame = pd.read_sql_table(table, engine)
        else:
            frame = pd.read_sql_query(sa.text(query), engine)
    except ValueError as exc:
        raise InputError(f"{label}: {exc}. Check table= (the tables are {_tables(engine)}).") from None
    except (sa.exc.SQLAlchemyError, pd.errors.DatabaseError) as exc:
        first = str(exc).splitlines()[0]
        raise ParseError(f"{label}: the database refused the read: {first}.") from None
    if len(frame) == 0:
        raise ParseError(f"{label}: the {'table ' + repr(table) if table else 'query'} returned no rows.")
    sha = []
    db = getattr(getattr(engine, "url", None), "database", None)
    if getattr(getattr(engine, "url", None), "drivername", "").startswith("sqlite") and db and Path(db).is_file():
        sha = [sha256_of(Path(db))]
    return Source(frame=frame, label=label, kind="sql", files=[label], sha256=sha,
                  details={"format": "sql", "table": table, "query": query})


def _tables(engine: Any) -> list[str]:
    import sqlalchemy as sa

    try:
        return sa.inspect(engine).get_table_names()
    except Exception:  # the listing is only a hint
        return []
