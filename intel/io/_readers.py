"""Readers: every supported source becomes one DataFrame of the source's columns as read.

Delimited text (CSV/TSV, plain, .gz, .bz2, .xz or a .zip holding one table) goes
through pandas' C parser, with the delimiter sniffed from the first lines and the
encoding taken from a BOM, else UTF-8, else latin-1. Id columns whose values carry
leading zeros are read as text so none is lost; dates are parsed afterwards with
Arrow's vectorised ``strptime``.
Anything unreadable ends in a :class:`ParseError` that names the file and the problem.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import hashlib
import io
import lzma
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

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
_DELIMITERS = (",", "\t", ";", "|")
_HEAD_BYTES = 1 << 16

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
        paths = [Path(p) for p in source]
        if not paths:
            raise InputError("load_incidents: an empty list of files was given.")
    elif isinstance(source, (str, Path)):
        text = str(source)
        if any(ch in text for ch in "*?[") and not Path(text).exists():
            paths = sorted(Path(p) for p in _glob(text))
            if not paths:
                raise InputError(f"{text}: no file matches this pattern.")
        else:
            paths = [Path(text)]
    else:
        raise InputError(
            f"load_incidents: source must be a file path, a list of paths, a SQLAlchemy URL or a (Geo)DataFrame; "
            f"got {type(source).__name__}."
        )
    for p in paths:
        if not p.exists():
            raise InputError(f"{p}: no such file. Check the path (the current directory is {Path.cwd()}).")
        if p.is_dir():
            raise InputError(f"{p} is a directory; give a file (or a list of files, or a pattern such as 'dir/*.csv').")
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
    )


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
        frame = _pandas_csv(path, compression, member, delimiter, encoding, types)
    except UnicodeDecodeError:
        announce("%s has bytes that are not UTF-8: reading it as latin-1", path)
        encoding = details["encoding"] = "latin-1"
        frame = _pandas_csv(path, compression, member, delimiter, encoding, types)
    details["engine"] = "pandas-c"
    if len(frame.columns) == 0:
        raise ParseError(f"{path}: no columns could be read.")
    if len(frame) == 0:
        raise ParseError(f"{path}: the file has a header ({len(frame.columns)} columns: {list(frame.columns)[:8]}) "
                         "but no data rows.")
    return Source(frame=frame, label=str(path), kind="csv", files=[str(path)], details=details)


def _pandas_csv(path, compression, member, delimiter, encoding, types) -> pd.DataFrame:
    # pandas' C parser streams decompression and parsing in one pass; on gzip exports it beat
    # Arrow's reader here (decompression dominates), and it copes with huge fields and quoted newlines.
    # Only columns the plan names are forced to text: forcing costs time, and pandas already reads
    # date strings and names as text.
    dtype = {c: "str" for c, t in types.items() if t == "string"}
    try:
        with _open_binary(path, compression, member) as fh:
            return pd.read_csv(fh, sep=delimiter, encoding=encoding, dtype=dtype or None, engine="c",
                               low_memory=False)
    except UnicodeDecodeError:
        raise
    except pd.errors.EmptyDataError:
        raise ParseError(f"{path}: the file has no columns to read (empty or blank lines only).") from None
    except (pd.errors.ParserError, ValueError, OverflowError, MemoryError, OSError, EOFError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ParseError(
            f"{path}: cannot be read as a {delimiter!r}-delimited table: {first}. Check the delimiter, quoting "
            "and line endings; a spreadsheet's 'Save as CSV (UTF-8)' usually fixes it."
        ) from None


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
