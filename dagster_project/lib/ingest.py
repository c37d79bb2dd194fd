"""Landing files → ``staged`` tables → ``raw`` tables, set-based in DuckDB.

Write–audit–publish:

1. ``stage_source`` reads every landing file of a source that was not loaded before, through
   its YAML mapping, with DuckDB's own readers. Each file is checked in one aggregate query
   (missing columns, repeated header, unparseable dates, numbers and booleans; a Parquet
   file's data pages) and the first problem is reported with the file, the column and the
   line an editor shows, never the line's content (DuckDB's messages quote it). Nothing is
   written unless every file is good: the staged table is rebuilt inside one transaction.
2. The quality gates validate ``staged.<source>`` (Dagster blocking asset checks).
3. ``publish`` merges every staged table into ``raw`` in ONE transaction, records the files in
   ``raw._load_log`` and empties the staged tables. Re-running on the same files adds nothing:
   files already in the log are skipped (by content: a loaded file moved to an archive folder,
   renamed or touched is not loaded again), and rows are merged on their key.
"""

from __future__ import annotations

import codecs
import csv
import fnmatch
import gzip
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from dagster_project.lib.mappings import Mapping, MappingError
from dagster_project.lib.schema import SOURCES, Source

RAW = "raw"
STAGED = "staged"
LOAD_LOG = f"{RAW}._load_log"
META_COLUMNS = (("_source_file", "VARCHAR"), ("_loaded_at", "TIMESTAMP"))
_LANDING_SUFFIXES = (".csv", ".parquet", ".txt", ".tsv", ".gz", ".json", ".jsonl", ".ndjson")
# never exports, whatever the mapping's `files:` says: hidden files (.DS_Store, LibreOffice's
# .~lock.x#), Office's ~$x owner files, downloads in progress, Windows' system files, notes
_NOT_EXPORT_PREFIXES = (".", "~$")
_NOT_EXPORT_SUFFIXES = (".tmp", ".temp", ".part", ".partial", ".crdownload", ".download", "~")
_NOT_EXPORT_NAMES = ("thumbs.db", "ehthumbs.db", "desktop.ini")
_README = re.compile(r"read[ _-]?me([^a-z]|$)")
_UNNAMED = "__unnamed_"  # + position: a CSV column whose header is blank


class LandingFileError(ValueError):
    """A landing file cannot be loaded. The message names the file, column and line."""

    def __init__(
        self, file: Path | str, message: str, column: str | None = None, line: int | None = None
    ):
        self.file = str(file)
        self.column = column
        self.line = line
        where = [f"file {self.file}"]
        if column:
            where.append(f"column {column!r}")
        if line is not None:
            where.append(f"line {line}")
        super().__init__(f"{', '.join(where)}: {message}")


@dataclass
class StagedFile:
    path: str  # relative to the landing folder
    size: int
    mtime_ns: int
    content_hash: str  # sha256 of the bytes
    rows: int = 0

    @property
    def fingerprint(self) -> str:
        """What makes a delivery: its content. A file moved to an archive folder, renamed,
        touched or copied again is the same delivery and is not loaded twice (loading it
        again would put its old values back over newer deliveries)."""
        return f"sha256:{self.content_hash}"


def content_hash(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


@dataclass
class StageResult:
    source: str
    files: list[StagedFile] = field(default_factory=list)
    skipped_files: int = 0
    not_exports: list[str] = field(default_factory=list)  # paths skipped by name
    never_delivered: bool = False  # an optional source with no file, now or before
    # contact_match: email: rows whose email is no contact's, left out of the staged view
    unmatched_rows: int = 0
    excluded_rows: int = 0  # left out by the mapping's exclude_rows

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files)


def q(identifier: str) -> str:
    """Quote an identifier for DuckDB."""
    return '"' + identifier.replace('"', '""') + '"'


def lit(value: object) -> str:
    """A SQL literal for a Python scalar."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def raw_columns(source: Source) -> list[tuple[str, str]]:
    """(name, type) of ``raw.<source>``: the canonical columns and the loader's."""
    return [(c.name, c.type) for c in source.columns] + list(META_COLUMNS)


def table_ddl(source: Source, schema: str) -> str:
    cols = ", ".join(f"{q(name)} {ctype}" for name, ctype in raw_columns(source))
    return f"create table if not exists {schema}.{q(source.name)} ({cols})"


def _superseded_names(source: Source) -> list[str]:
    return [*source.key, *(c for c in source.superseded_columns if c not in source.key)]


def superseded_columns(source: Source) -> list[tuple[str, str]]:
    """(name, type) of ``raw.<source>_superseded``: the key and the ``superseded_columns`` of
    rows a re-delivery replaced with other values there, and when (the new row's
    ``_loaded_at``)."""
    names = _superseded_names(source)
    return [(n, source.column(n).type) for n in names] + [("_superseded_at", "TIMESTAMP")]


def superseded_ddl(source: Source) -> str:
    cols = ", ".join(f"{q(name)} {ctype}" for name, ctype in superseded_columns(source))
    return f"create table if not exists {RAW}.{q(source.superseded_table)} ({cols})"


def ensure_schemas(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw and staged schemas, their tables and the load log if missing."""
    con.execute(f"create schema if not exists {RAW}")
    con.execute(f"create schema if not exists {STAGED}")
    for source in SOURCES.values():
        con.execute(table_ddl(source, RAW))
        if source.superseded_table:
            con.execute(superseded_ddl(source))
    old_tables = {
        name
        for (name,) in con.execute(
            "select table_name from duckdb_tables() where database_name = current_database() "
            f"and schema_name = '{STAGED}'"
        ).fetchall()
    }
    for source in SOURCES.values():
        if source.name in old_tables:  # staged rows were tables before they became views
            con.execute(f"drop table {STAGED}.{q(source.name)}")
        con.execute(
            f"create view if not exists {STAGED}.{q(source.name)} as "
            f"select * from {RAW}.{q(source.name)} where false"
        )
    con.execute(
        f"""create table if not exists {LOAD_LOG} (
            source varchar, file_path varchar, file_size bigint, file_mtime_ns bigint,
            fingerprint varchar, row_count bigint, rows_published bigint,
            run_id varchar, loaded_at timestamp)"""
    )
    # files of the staged tables, waiting to be published
    con.execute(
        f"""create table if not exists {STAGED}._files (
            source varchar, file_path varchar, file_size bigint, file_mtime_ns bigint,
            fingerprint varchar, row_count bigint)"""
    )


def loaded_files(
    con: duckdb.DuckDBPyConnection, source: str
) -> tuple[set[str], set[tuple[str, int, int]]]:
    """The fingerprints of the files loaded, and their (path, size, mtime): a file still
    there unchanged is skipped without reading it (older load logs fingerprinted by these)."""
    rows = con.execute(
        f"select fingerprint, file_path, file_size, file_mtime_ns from {LOAD_LOG} where source = ?",
        [source],
    ).fetchall()
    return {row[0] for row in rows}, {row[1:] for row in rows}


def is_not_an_export(name: str) -> bool:
    """A temporary, lock or system file, or a README: skipped by name, never read."""
    name = name.lower()
    return (
        name.startswith(_NOT_EXPORT_PREFIXES)
        or name.endswith(_NOT_EXPORT_SUFFIXES)
        or name in _NOT_EXPORT_NAMES
        or _README.match(name) is not None
    )


def discover_files(mapping: Mapping, landing_dir: Path) -> list[Path]:
    """Landing files of a source, in a stable order (name order = delivery order)."""
    return landing_files(mapping, landing_dir)[0]


def landing_files(mapping: Mapping, landing_dir: Path) -> tuple[list[Path], list[Path]]:
    """The landing files of a source in a stable order (name order = delivery order), and
    the files skipped as not exports (:func:`is_not_an_export`, or in such a folder)."""
    folder = landing_dir / mapping.folder
    if not folder.is_dir():
        return [], []
    files, not_exports = [], []
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        if any(is_not_an_export(part) for part in path.relative_to(folder).parts):
            not_exports.append(path)
            continue
        if mapping.pattern:
            if not fnmatch.fnmatch(path.name, mapping.pattern):
                continue
        elif not path.name.lower().endswith(_LANDING_SUFFIXES):
            continue
        files.append(path)
    return files, not_exports


# ---------------------------------------------------------------------------------------
# reading one file


def _read_csv_header(path: Path, mapping: Mapping, rel: str | None = None) -> list[str]:
    """The header line's column names. A UTF-8 byte-order mark is dropped before the line is
    parsed (a BOM before a quoted name left the quotes in it); ``.gz`` files are read through
    gzip, as DuckDB's reader does."""
    opts = mapping.csv
    try:
        with _open(path, "rt", encoding=_python_encoding(opts.encoding), newline="") as handle:
            for _ in range(opts.skip_rows):
                handle.readline()
            first = handle.readline()
    except (gzip.BadGzipFile, EOFError):
        # BadGzipFile's message quotes the file's first bytes
        raise LandingFileError(rel or path, "not a readable gzip file") from None
    except UnicodeDecodeError as exc:
        # the reader decodes a whole buffer: the bad byte may be lines further down
        raise _encoding_error(path, mapping, rel or str(path)) or LandingFileError(
            rel or path,
            f"not valid {opts.encoding} text ({exc.reason}); set csv.encoding in the mapping",
        ) from None
    if not first.strip():
        raise LandingFileError(rel or path, "the file is empty (no header line)")
    row = next(csv.reader([first], delimiter=opts.delimiter, quotechar=opts.quote))
    return [c.strip() for c in row]


def _open(path: Path, mode: str, **kwargs):
    """Open a landing file, through gzip for ``.gz`` (as DuckDB's reader does)."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    return opener(path, mode, **kwargs)


def _python_encoding(encoding: str) -> str:
    """Python's codec for a mapping's encoding (a UTF-8 byte-order mark is not text)."""
    return "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding


def _undecodable_at(path: Path, encoding: str) -> tuple[int, int, int, str] | None:
    """(line, character of that line, byte of the file, reason) of the first bytes that are
    not ``encoding`` text, or None. Streams the whole file: for error messages only."""
    decoder = codecs.getincrementaldecoder(_python_encoding(encoding))()
    line, char, offset = 1, 1, 0

    def advance(text: str) -> None:
        nonlocal line, char
        breaks = text.count("\n")
        line += breaks
        char = len(text) - text.rfind("\n") if breaks else char + len(text)

    with _open(path, "rb") as handle:
        while block := handle.read(1 << 16):
            state = decoder.getstate()
            try:
                advance(decoder.decode(block))
            except UnicodeDecodeError:
                decoder.setstate(state)
                for i in range(len(block)):  # byte by byte, to find where
                    pending = len(decoder.getstate()[0])
                    try:
                        advance(decoder.decode(block[i : i + 1]))
                    except UnicodeDecodeError as exc:
                        return line, char, offset + i - pending + exc.start, exc.reason
            offset += len(block)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            return line, char, offset - len(exc.object) + exc.start, exc.reason
    return None


def _encoding_error(path: Path, mapping: Mapping, rel: str) -> LandingFileError | None:
    try:
        found = _undecodable_at(path, mapping.csv.encoding)
    except (OSError, EOFError, LookupError):
        return None
    if found is None:
        return None
    line, char, byte, reason = found
    return LandingFileError(
        rel,
        f"not valid {mapping.csv.encoding} text ({reason} at character {char} of the line, "
        f"byte offset {byte} in the file); set csv.encoding in the mapping",
        line=line,
    )


def _csv_dialect(opts) -> dict:
    """Python's csv module options for a mapping's CSV dialect."""
    if not opts.quote:
        return {"delimiter": opts.delimiter, "quoting": csv.QUOTE_NONE}
    doubled = opts.escape in ("", opts.quote)
    return {
        "delimiter": opts.delimiter,
        "quotechar": opts.quote,
        "doublequote": doubled,
        "escapechar": None if doubled else opts.escape,
        "strict": False,
    }


def _physical_line(
    path: Path, mapping: Mapping, *, record: int | None = None, reader_line: int | None = None
) -> int | None:
    """The line an editor shows where a CSV record starts, found by reading the file again
    (for error messages only). ``record`` numbers data records as the checks do (a blank
    line is no record); ``reader_line`` numbers as DuckDB's CSV errors do (skipped lines,
    the header and blank lines count, line breaks inside quoted values do not). None when
    the file cannot be read so."""
    opts = mapping.csv
    if reader_line is not None and reader_line <= opts.skip_rows:
        return reader_line
    found = _physical_lines(
        path, mapping, records=() if record is None else (record,), reader_line=reader_line
    )
    return found.get(("record", record) if record is not None else ("reader", reader_line))


def _physical_lines(
    path: Path, mapping: Mapping, *, records: Iterable[int] = (), reader_line: int | None = None
) -> dict[tuple[str, int], int]:
    """:func:`_physical_line` of several records in one reading of the file: keys
    ``("record", n)`` and ``("reader", reader_line)``; a record not found is left out."""
    opts = mapping.csv
    wanted = set(records)
    found: dict[tuple[str, int], int] = {}
    try:
        with _open(
            path, "rt", encoding=_python_encoding(opts.encoding), errors="replace", newline=""
        ) as handle:
            for _ in range(opts.skip_rows):
                handle.readline()
            reader = csv.reader(handle, **_csv_dialect(opts))
            units, count, end, header = opts.skip_rows, 0, opts.skip_rows, opts.header
            for row in reader:
                start, end = end + 1, opts.skip_rows + reader.line_num
                units += 1
                if units == reader_line:
                    found[("reader", reader_line)] = start
                    if not wanted:
                        break
                if not row:  # a blank line
                    continue
                if header:
                    header = False
                    continue
                count += 1
                if count in wanted:
                    found[("record", count)] = start
                    wanted.discard(count)
                    if not wanted and (reader_line is None or units >= reader_line):
                        break
    except (OSError, EOFError, csv.Error, TypeError, LookupError):
        return {}
    return found


def _record_line(path: Path, mapping: Mapping, fmt: str, record: int, offset: int) -> int:
    """The line users see for the ``record``-th data record (a Parquet file's row number)."""
    if fmt != "csv":
        return record + offset
    return _physical_line(path, mapping, record=record) or record + offset


_CSV_ERROR_LINE = re.compile(r"CSV Error on Line: (\d+)")
_CSV_ERRORS = (
    (
        re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)"),
        "{1} field(s) where the header has {0} (an unquoted delimiter in a value, or the "
        "wrong csv.delimiter / csv.quote in the mapping?)",
    ),
    (
        re.compile(r"unterminated quote", re.IGNORECASE),
        "a quoted value that starts on this line is never closed (a stray quote character, "
        "or the wrong csv.quote / csv.escape in the mapping?)",
    ),
    (
        re.compile(r"Maximum line size of (\d+) bytes exceeded"),
        "the line is longer than {0} bytes (an unclosed quote, or the wrong line ending?)",
    ),
)


def _error_kind(exc: Exception) -> str:
    """The first line of a DuckDB error, cut where it starts quoting: DuckDB quotes the
    file's content in its messages ("Original Line: …", 'value "…" is not valid UTF8'),
    which must not reach logs."""
    first = str(exc).strip().split("\n")[0]
    first = re.split(r"[\"'`]|Original Line", first)[0].rstrip(" :,")
    return first or type(exc).__name__


def _read_error(
    exc: Exception, path: Path, rel: str, mapping: Mapping, fmt: str
) -> LandingFileError:
    """A DuckDB read error as a LandingFileError: the file, the physical line and the kind
    of error, never the content of the line."""
    text = str(exc)
    if fmt == "json":
        return LandingFileError(
            rel,
            f"cannot be read as JSON ({_error_kind(exc)}): one JSON array of objects, or one "
            "object per line (JSON Lines)",
            line=_bad_json_line(path),
        )
    if fmt != "csv":
        return LandingFileError(
            rel,
            f"cannot be read as {fmt} ({_error_kind(exc)}); the file may be damaged or "
            "incomplete: export it again",
        )
    if "Invalid unicode" in text:
        found = _encoding_error(path, mapping, rel)
        if found is not None:
            return found
    match = _CSV_ERROR_LINE.search(text)
    line = None
    if match:
        line = _physical_line(path, mapping, reader_line=int(match[1])) or int(match[1])
    for pattern, message in _CSV_ERRORS:
        if found := pattern.search(text):
            return LandingFileError(rel, message.format(*found.groups()), line=line)
    if "Invalid unicode" in text:
        return LandingFileError(
            rel,
            f"not valid {mapping.csv.encoding} text; set csv.encoding in the mapping",
            line=line,
        )
    return LandingFileError(rel, f"cannot be read as CSV ({_error_kind(exc)})", line=line)


def _json_fields(con: duckdb.DuckDBPyConnection, path: Path, mapping: Mapping, rel: str):
    """The field names of a JSON file's records (DuckDB's detection, on a sample)."""
    try:
        fields = list(_describe(con, f"select * from read_json({lit(str(path))}, format = 'auto')"))
    except duckdb.Error as exc:
        raise _read_error(exc, path, rel, mapping, "json") from None
    if fields == ["json"]:  # not records: scalars, or arrays
        raise LandingFileError(
            rel, "holds no JSON objects: one JSON array of objects, or one object per line"
        )
    return fields


def _bad_json_line(path: Path) -> int | None:
    """The first line of a JSON Lines file that is not a JSON value (for the message only;
    None for a single JSON document, or when the file cannot be read so)."""
    try:
        with _open(path, "rt", encoding="utf-8", errors="replace") as handle:
            for number, text in enumerate(handle, start=1):
                text = text.strip()
                if number == 1 and text.startswith("["):
                    return None
                if text:
                    try:
                        json.loads(text)
                    except ValueError:
                        return number
    except (OSError, EOFError):
        return None
    return None


def _relation_sql(
    paths: Path | list[Path],
    mapping: Mapping,
    header: list[str] | None,
    *,
    with_line: bool = True,
    filename_column: str | None = None,
    excluding: bool = True,
) -> tuple[str, int]:
    """SQL of the file(s) read as text (CSV, JSON) or as typed columns (Parquet), with a
    __line column when ``with_line``, and the offset to add to the row number to get the line
    users see; without the rows the mapping's ``exclude_rows`` leaves out (numbered first).
    Several files of the same shape are read by ONE reader (a list of paths; with
    ``filename_column``, the path of each row's file in that column)."""
    sql, offset = _read_sql(
        paths, mapping, header, with_line=with_line, filename_column=filename_column
    )
    if excluding and mapping.exclude_rows:
        sql = f"select * from ({sql}) where not ({_excluded_sql(mapping)})"
    return sql, offset


def _excluded_sql(mapping: Mapping) -> str:
    """The rows ``exclude_rows`` leaves out: a column's text, trimmed, in lower case, is one
    of its values."""
    return (
        " or ".join(
            f"coalesce(lower(trim(cast({q(column)} as varchar))) in "
            f"({', '.join(lit(v) for v in values)}), false)"
            for column, values in mapping.exclude_rows.items()
            if values
        )
        or "false"
    )


def _read_sql(
    paths: Path | list[Path],
    mapping: Mapping,
    header: list[str] | None,
    *,
    with_line: bool,
    filename_column: str | None,
) -> tuple[str, int]:
    paths = [paths] if isinstance(paths, Path) else paths
    files = lit(str(paths[0])) if len(paths) == 1 else f"[{', '.join(lit(str(p)) for p in paths)}]"
    filename = f", filename = {lit(filename_column)}" if filename_column else ""
    fmt = mapping.file_format(paths[0])
    if fmt == "parquet":
        if not with_line:
            return f"select * from read_parquet({files}{filename})", 0
        return (
            f"select *, file_row_number + 1 as __line from read_parquet({files}, "
            f"file_row_number = true{filename})",
            0,
        )
    if fmt == "json":
        # every field as text (numbers as written, objects as JSON text), parsed like CSV's:
        # DuckDB's types come from a sample and a later record could break them
        columns = ", ".join(f"{lit(h)}: 'VARCHAR'" for h in header or [])
        read = f"read_json({files}, format = 'auto', columns = {{{columns}}}{filename})"
        if not with_line:
            return f"select * from {read}", 0
        return f"select *, row_number() over () as __line from {read}", 0
    opts = mapping.csv
    nulls = ", ".join(lit(v) for v in opts.null_values)
    columns = ", ".join(f"{lit(h)}: 'VARCHAR'" for h in header or [])
    read = (
        f"read_csv({files}, header = {lit(opts.header)}, "
        f"delim = {lit(opts.delimiter)}, quote = {lit(opts.quote)}, "
        f"escape = {lit(opts.escape)}, encoding = {lit(opts.encoding)}, "
        f"skip = {opts.skip_rows}, nullstr = [{nulls}], strict_mode = true, "
        f"null_padding = false, auto_detect = false, columns = {{{columns}}}{filename})"
    )
    offset = opts.skip_rows + (1 if opts.header else 0)
    if not with_line:
        return f"select * from {read}", offset
    return f"select *, row_number() over () as __line from {read}", offset


# text ending in a UTC offset or a time zone name after a time of day: "…14:22:00+01:00",
# "…14:22Z", "… 14:22:00 +0100", "… 14:22 CET", "… 14:22 Europe/Paris"
_ZONED_TEXT = r"\d:\d\d(:\d\d(\.\d+)?)?\s*([zZ]|[+-]\d\d(:?\d\d)?|[A-Za-z][A-Za-z_/+-]*)$"


def _zoned_to_utc(text: str) -> str:
    """Text with an offset or a zone as a UTC TIMESTAMP (NULL when it does not parse)."""
    # DuckDB reads "+01:00" and "+0100" but not " +0100" after a space
    spaced = f"regexp_replace({text}, '\\s+([+-]\\d\\d:?\\d\\d)$', '\\1')"
    return f"timezone('UTC', try_cast({spaced} as timestamptz))"


def _local_to_utc(timestamp: str, zone: str | None) -> str:
    """A TIMESTAMP without zone, written in ``zone`` (the mapping's ``timezone``), in UTC;
    as it is without a zone (taken as UTC already)."""
    if zone is None:
        return timestamp
    return f"timezone('UTC', timezone({lit(zone)}, {timestamp}))"


def _timestamp_expr(text: str, formats: tuple[str, ...], zone: str | None = None) -> str:
    """Text as a UTC TIMESTAMP. A value with an offset or a zone (ISO 8601 ``+01:00``, ``Z``,
    a format's ``%z`` / ``%Z``) is converted to UTC; a value without is taken in ``zone``
    (the mapping's ``timezone``), by default UTC. The result never depends on the session's
    TimeZone (a view over it is read by other connections). Casting "14:22+01:00" straight
    to TIMESTAMP drops the offset (14:22)."""
    if not formats:
        naive = _local_to_utc(f"try_cast({text} as timestamp)", zone)
        return (
            f"case when regexp_matches({text}, {lit(_ZONED_TEXT)}) then {_zoned_to_utc(text)} "
            f"else {naive} end"
        )
    zoned = [f for f in formats if "%z" in f or "%Z" in f]
    naive = [f for f in formats if f not in zoned]
    parts = []
    if zoned:
        fmts = ", ".join(lit(f) for f in zoned)
        parts.append(f"timezone('UTC', try_strptime({text}, [{fmts}]))")
    if naive:
        fmts = ", ".join(lit(f) for f in naive)
        parts.append(_local_to_utc(f"try_strptime({text}, [{fmts}])", zone))
    return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"


def _exact_number(value: str, ctype: str) -> str:
    """A number as INTEGER / BIGINT / DECIMAL(p, s), NULL unless it is kept exactly: the cast
    rounds ("2.5" -> 3, "10.125" -> 10.13), which would load another quantity or price
    without a word. ``value`` is numeric (a float's binary fraction is compared after
    rounding to the canonical scale)."""
    scale = int(ctype.split(",")[1].rstrip(")")) if ctype.startswith("DECIMAL") else 0
    return f"case when round({value}, {scale}) = {value} then try_cast({value} as {ctype}) end"


def _mapped_text(column: str, values: dict[str, str | None]) -> str:
    """The column as trimmed text, the export's own words replaced by the mapping's
    ``values:`` (a word mapped to null is NULL)."""
    return _value_map(f"nullif(trim(cast({q(column)} as varchar)), '')", values)


def _parse_expr(
    column: str, ctype: str, src_type: str, mapping: Mapping, values: dict | None = None
) -> str:
    """Expression turning the user's column into the canonical type; NULL where it fails
    (the file check reports those rows). With ``values`` (the mapping's words for a typed
    column: `Loaded by proxy: "true"`), the words are replaced first and the result parsed
    as text."""
    col = q(column)
    base = ctype.split("(")[0]
    if values:
        src_type = "VARCHAR"
    elif src_type == ctype:
        return _local_to_utc(col, mapping.timezone) if base == "TIMESTAMP" else col
    if src_type != "VARCHAR":
        if src_type == "TIMESTAMP WITH TIME ZONE" and base == "TIMESTAMP":
            return f"timezone('UTC', {col})"  # the instant in UTC, whatever the session zone
        if src_type.startswith("TIMESTAMP") and base == "TIMESTAMP":  # _S, _MS, _NS
            return _local_to_utc(f"try_cast({col} as timestamp)", mapping.timezone)
        if src_type == "FLOAT" and base == "DOUBLE":
            # through its shortest text: 0.00085 stays 0.00085, not 0.00085000001127
            return f"try_cast(cast({col} as varchar) as double)"
        if base in ("INTEGER", "BIGINT", "DECIMAL") and (
            src_type in ("FLOAT", "DOUBLE") or src_type.startswith("DECIMAL")
        ):
            return _exact_number(col, ctype)
        return f"try_cast({col} as {ctype})"
    text = _mapped_text(column, values) if values else f"nullif(trim({col}), '')"
    if base == "TIMESTAMP":
        return _timestamp_expr(text, mapping.timestamp_formats, mapping.timezone)
    if base == "DATE":
        if mapping.date_formats:
            fmts = ", ".join(lit(f) for f in mapping.date_formats)
            return f"cast(try_strptime({text}, [{fmts}]) as date)"
        return f"try_cast({text} as date)"
    if base in ("DECIMAL", "DOUBLE", "INTEGER", "BIGINT"):
        number = text
        if mapping.thousands_separator:
            number = f"replace({number}, {lit(mapping.thousands_separator)}, '')"
        if mapping.decimal_separator == ",":
            number = f"replace({number}, ',', '.')"
        if base in ("INTEGER", "BIGINT", "DECIMAL"):
            return _exact_number(f"try_cast({number} as decimal(38, 10))", ctype)
        return f"try_cast({number} as {ctype})"
    if base == "BOOLEAN":
        trues = ", ".join(lit(v) for v in mapping.true_values)
        falses = ", ".join(lit(v) for v in mapping.false_values)
        return (
            f"case when lower({text}) in ({trues}) then true "
            f"when lower({text}) in ({falses}) then false end"
        )
    return text  # VARCHAR


def _value_map(expr: str, values: dict[str, str] | None) -> str:
    if not values:
        return expr
    whens = " ".join(f"when {lit(k)} then {lit(v)}" for k, v in values.items())
    return f"case {expr} {whens} else {expr} end"


def _describe(con: duckdb.DuckDBPyConnection, sql: str) -> dict[str, str]:
    return {row[0]: row[1] for row in con.execute(f"describe {sql}").fetchall()}


@dataclass(frozen=True)
class _FileShape:
    """How a checked file turns into canonical rows: files of one shape (same format, header
    and column expressions) are read together by one reader in the staged view."""

    fmt: str
    header: tuple[str, ...] | None
    selects: tuple[str, ...]


_OTHER_DELIMITERS = (";", ",", "\t", "|")


def _known_names(mapping: Mapping) -> set[str]:
    """Column names a header may hold (lower case): the mapping's and the canonical ones."""
    names = {c.name for c in mapping.source.columns}
    names |= {mapping.source_column(c.name) or c.name for c in mapping.source.columns}
    return {n.lower() for n in names}


def _header_name(name: str, known: set[str]) -> str:
    """A header name as a message may show it: as is when the mapping knows it, else by its
    shape (a first line taken for a header because one field is a column name — `email` is
    also a preferred channel — is data: emails, names, phones)."""
    return repr(name) if name.lower() in known else f"shaped {value_shape(name)!r}"


def _check_header_names(header: list[str], mapping: Mapping, rel: str) -> None:
    """Refuse a header line that names none of the mapping's columns: it is data (a file
    without a header, banner lines to skip) or one field (the wrong delimiter), and its
    "names" are never repeated in the message: they may be an email or a name."""
    expected = {mapping.source_column(c.name) for c in mapping.source.columns} - {None}
    if {n.lower() for n in header} & {n.lower() for n in expected}:
        return
    hint = (
        "without a header line, set csv.header: false; with lines above it, csv.skip_rows; "
        "else map your column names under `columns:`"
    )
    if len(header) == 1:
        counts = {d: header[0].count(d) for d in _OTHER_DELIMITERS if d != mapping.csv.delimiter}
        delimiter, count = max(counts.items(), key=lambda item: item[1])
        if count:
            hint = f"the line holds {delimiter!r} {count} time(s): set csv.delimiter"
    required = [mapping.source_column(n) for n in mapping.source.required_columns]
    raise LandingFileError(
        rel,
        f"this is not a header line: none of its {len(header)} field(s) is a column of the "
        f"mapping (required: {', '.join(c for c in required if c)}); {hint}",
        line=mapping.csv.skip_rows + 1,
    )


def _file_select(
    con: duckdb.DuckDBPyConnection, path: Path, rel: str, mapping: Mapping
) -> tuple[_FileShape, int, int]:
    """Check one landing file and return its shape (see ``_staged_select``), its row count
    and how many rows ``exclude_rows`` leaves out (a file of excluded rows only: no shape).

    Raises LandingFileError naming the file, column and line of the first problem."""
    source = mapping.source
    if path.stat().st_size == 0:
        raise LandingFileError(rel, "the file is empty (0 bytes)")
    try:
        fmt = mapping.file_format(path)
    except MappingError:
        raise LandingFileError(
            rel,
            "cannot tell the format from the file name: name it .csv, .csv.gz, .tsv, .txt, "
            ".parquet, .json or .jsonl, or set `format:` in the mapping",
        ) from None
    header = None
    if fmt == "csv":
        header = _read_csv_header(path, mapping, rel)
        if mapping.csv.header:
            _check_header_names(header, mapping, rel)
        else:
            header = [f"column{i}" for i in range(len(header))]
        # a blank name (a trailing delimiter, Excel's empty columns) can't be mapped: the
        # column is read under a placeholder name and left out
        header = [name or f"{_UNNAMED}{position}" for position, name in enumerate(header, 1)]
        seen: dict[str, int] = {}
        for position, name in enumerate(header, start=1):
            if name in seen:
                shown = _header_name(name, _known_names(mapping))
                raise LandingFileError(
                    rel,
                    f"the header names column {shown} twice (positions {seen[name]} "
                    f"and {position})",
                    column=name if shown == repr(name) else shown,
                    line=mapping.csv.skip_rows + 1,
                )
            seen[name] = position
    elif fmt == "json":
        header = _json_fields(con, path, mapping, rel)
    relation, offset = _relation_sql(path, mapping, header, excluding=False)
    try:
        available = _describe(con, relation)
    except duckdb.Error as exc:
        raise _read_error(exc, path, rel, mapping, fmt) from None
    available.pop("__line", None)
    excluded = 0
    if mapping.exclude_rows:
        absent = [c for c in mapping.exclude_rows if c not in available]
        if absent:
            has = [_header_name(n, _known_names(mapping) | set(absent)) for n in sorted(available)]
            raise LandingFileError(
                rel,
                f"exclude_rows names a column the file does not have; it has: {', '.join(has)}",
                column=absent[0],
            )
        try:
            (excluded,) = con.execute(
                f"select count(*) from ({relation}) where {_excluded_sql(mapping)}"
            ).fetchone()
        except duckdb.Error as exc:
            raise _read_error(exc, path, rel, mapping, fmt) from None
        relation, offset = _relation_sql(path, mapping, header)

    # which user column feeds each canonical column
    selects: list[str] = []
    checks: list[tuple[str, str, str]] = []  # (canonical, user column, failure condition)
    used: list[str] = []  # the user columns read
    for column in source.columns:
        made_from = mapping.ids_from.get(column.name)
        if made_from:
            absent = [u for u in made_from if u not in available]
            if absent:
                known = _known_names(mapping) | {u.lower() for u in made_from}
                has = [_header_name(n, known) for n in sorted(available)]
                raise LandingFileError(
                    rel,
                    f"column(s) {', '.join(map(repr, absent))} of ids_from.{column.name} "
                    f"missing; the file has: {', '.join(has)}",
                    column=absent[0],
                )
            used.extend(made_from)
            parts = ", ".join(f"coalesce(cast({q(u)} as varchar), '')" for u in made_from)
            selects.append(f"md5(concat_ws(chr(31), {parts})) as {q(column.name)}")
            continue
        user = mapping.source_column(column.name)
        if user is None or user not in available:
            if column.name in mapping.defaults:
                default = lit(mapping.defaults[column.name])
                selects.append(f"cast({default} as {column.type}) as {q(column.name)}")
                continue
            if column.required:
                mapped = f" (mapped from {user!r})" if user != column.name else ""
                known = _known_names(mapping)
                has = [_header_name(n, known) for n in sorted(available)]
                raise LandingFileError(
                    rel,
                    f"required column missing{mapped}; the file has: {', '.join(has)} "
                    "(names the mapping does not know shown by their shape: digits as 9, "
                    "letters as a)",
                    column=user or column.name,
                )
            selects.append(f"cast(null as {column.type}) as {q(column.name)}")
            continue
        used.append(user)
        words = mapping.value_maps.get(column.name)
        if column.type == "VARCHAR":
            expr = _value_map(_parse_expr(user, column.type, available[user], mapping), words)
        else:
            expr = _parse_expr(user, column.type, available[user], mapping, words)
        if column.type != "VARCHAR" and (words or available[user] != column.type):
            # a cast that can fail: check every row (a word mapped to null is no failure)
            given = _mapped_text(user, words or {})
            checks.append((column.name, user, f"{given} is not null and ({expr}) is null"))
        selects.append(f"{expr} as {q(column.name)}")

    # one aggregate query per file: row count, repeated header lines, first bad value per column
    aggregates = ["count(*)"]
    if fmt == "csv" and header and mapping.csv.header:
        same = " and ".join(f"{q(h)} = {lit(h)}" for h in header if not h.startswith(_UNNAMED))
        aggregates.append(f"min(__line) filter (where {same})")
    else:
        aggregates.append("null")
    for _canonical, user, condition in checks:
        aggregates.append(f"arg_min(cast({q(user)} as varchar), __line) filter (where {condition})")
        aggregates.append(f"min(__line) filter (where {condition})")
        aggregates.append(f"count(*) filter (where {condition})")
    if fmt == "parquet" and used:
        # count(*) (even count(column)) is answered from Parquet metadata: hash every value
        # read, so a damaged data page fails here, naming its file, not later in a gate
        aggregates.append(f"bit_xor(hash({', '.join(q(u) for u in used)}))")
    try:
        stats = con.execute(f"select {', '.join(aggregates)} from ({relation})").fetchone()
    except duckdb.Error as exc:
        raise _read_error(exc, path, rel, mapping, fmt) from None
    rows = stats[0]
    if rows == 0 and excluded:
        return _FileShape(fmt, tuple(header) if header is not None else None, ()), 0, excluded
    if rows == 0:
        raise LandingFileError(
            rel,
            "the file has no data rows"
            if fmt == "json"
            else "the file has a header but no data rows",
        )
    if stats[1] is not None:
        raise LandingFileError(
            rel,
            "the header line is repeated inside the data (two exports concatenated?)",
            line=_record_line(path, mapping, fmt, stats[1], offset),
        )
    for i, (canonical, user, _condition) in enumerate(checks):
        value, line, count = stats[2 + 3 * i : 5 + 3 * i]
        if line is not None:
            ctype = source.column(canonical).type
            hint = _format_hint(ctype, mapping)
            mapped = f" (canonical {canonical!r})" if user != canonical else ""
            raise LandingFileError(
                rel,
                f"value shaped {value_shape(value)!r} (digits as 9, letters as a) is not a "
                f"valid {ctype}{mapped}{hint}; "
                f"{count} row(s) of this column fail",
                column=user,
                line=_record_line(path, mapping, fmt, line, offset),
            )
    if mapping.repeated_keys == "merge":
        _check_merged_rows(con, relation, selects, mapping, rel, path, fmt, offset)
    shape = _FileShape(fmt, tuple(header) if header is not None else None, tuple(selects))
    return shape, rows, excluded


def _check_merged_rows(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    selects: list[str],
    mapping: Mapping,
    rel: str,
    path: Path,
    fmt: str,
    offset: int,
) -> None:
    """``repeated_keys: merge``: refuse a key whose rows give one column two different values
    (which one would be the record's is anybody's guess), naming the column and the line of
    the key's first row. One grouped query over the file."""
    key = mapping.source.key
    others = [c for c in mapping.source.column_names if c not in key]
    conflicts = ", ".join(f"count(distinct {q(c)}) > 1" for c in others)
    try:
        found = con.execute(
            f"select min(__line), [{conflicts}] from (select __line, {', '.join(selects)} "
            f"from ({relation})) group by {', '.join(q(k) for k in key)} "
            f"having list_bool_or([{conflicts}]) order by 1 limit 1"
        ).fetchone()
    except duckdb.Error as exc:
        raise _read_error(exc, path, rel, mapping, fmt) from None
    if found is None:
        return
    line, flags = found
    canonical = others[flags.index(True)]
    user = mapping.source_column(canonical) or canonical
    raise LandingFileError(
        rel,
        f"repeated_keys: merge, but the rows of one {'/'.join(key)} give this column two "
        "different values (from this line on): which would be the record's?",
        column=user,
        line=_record_line(path, mapping, fmt, line, offset),
    )


def value_shape(value: str | None, limit: int = 40) -> str:
    """What a bad value looks like, never the value: digits as 9, letters as a (A when upper
    case), everything else kept: ``31/12/2024`` -> ``99/99/9999``, ``12,50 €`` -> ``99,99 €``,
    ``bob@mail.fr`` -> ``aaa@aaaa.aa``. A column mapped wrongly can hold emails, names or
    phone numbers, and the message reaches the console and Dagster's event log."""
    if value is None:
        return "NULL"
    shape = "".join(
        "9" if ch.isdigit() else ("A" if ch.isupper() else "a") if ch.isalpha() else ch
        for ch in value[:limit]
    )
    return shape + ("…" if len(value) > limit else "")


_FILE_COLUMN = "__reveil_file"


def _staged_select(
    files: list[tuple[Path, str, _FileShape]], mapping: Mapping, loaded_at: datetime
) -> str:
    """The SELECT of the staged view: the canonical rows of every file, ``_source_file`` (the
    path relative to the landing folder) and ``_loaded_at``.

    Files of one shape are read by one reader over the list of their paths rather than one
    reader per file under a UNION: with a hundred Parquet parts a 535 M-row union ran DuckDB
    out of memory in an aggregate that the same files read by one reader completed
    (benchmarks/results/10m.md)."""
    groups: dict[tuple[_FileShape, int], list[Path]] = {}
    for path, rel, shape in files:
        # str(path) is the landing folder's prefix + rel: the prefix length turns the file
        # column of the reader back into rel
        groups.setdefault((shape, len(str(path)) - len(rel)), []).append(path)
    selects = []
    for (shape, prefix), paths in groups.items():
        header = list(shape.header) if shape.header is not None else None
        data, _ = _relation_sql(
            paths, mapping, header, with_line=False, filename_column=_FILE_COLUMN
        )
        selects.append(
            f"select {', '.join(shape.selects)}, substr({q(_FILE_COLUMN)}, {prefix + 1}) "
            f"as _source_file, cast({lit(loaded_at.isoformat(sep=' '))} as timestamp) "
            f"as _loaded_at from ({data})"
        )
    body = " union all by name ".join(f"({select})" for select in selects)
    if mapping.repeated_keys != "merge":
        return body
    # the rows of one key in one file are one record: each column the value they give it
    # (the file check refused two different ones); a key in two files is publish's to settle
    grouped = [*mapping.source.key, "_source_file", "_loaded_at"]
    columns = [
        q(c) if c in grouped else f"any_value({q(c)}) as {q(c)}"
        for c in [*mapping.source.column_names, "_source_file", "_loaded_at"]
    ]
    return f"select {', '.join(columns)} from ({body}) group by {', '.join(q(c) for c in grouped)}"


# one contact id per normalised email: the contacts of this delivery (staged) before those
# already loaded, then the latest created, then the greatest id (a CRM holding duplicates)
_CONTACTS_BY_EMAIL = f"""select email_key,
        arg_max(contact_id, (delivered_now, created_at, contact_id)) as contact_id
    from (
        select lower(trim(email)) as email_key, contact_id, 1 as delivered_now, created_at
        from {STAGED}.contacts
        union all
        select lower(trim(email)), contact_id, 0, created_at from {RAW}.contacts
    )
    where email_key <> '' and contact_id is not null
    group by email_key"""


def _match_contacts_by_email(
    con: duckdb.DuckDBPyConnection,
    body: str,
    mapping: Mapping,
    pending: list[tuple[StagedFile, tuple[Path, str, _FileShape]]],
) -> tuple[str, int]:
    """``contact_match: email``: the staged rows with the contact id of their email (read
    from the column mapped to ``contact_id``, case and spaces ignored) in place of the email;
    rows whose email is no contact's are left out (an ESP's or a shop's export also holds
    addresses the CRM does not: test sends, guest checkouts, people already purged).
    Returns the SELECT and how many rows it leaves out; refuses a delivery none of whose
    emails matches (the wrong column mapped, or no contact loaded yet).

    The view joins when it is read, so it sees the contacts as they are then: the
    ``staged/<source>`` asset depends on ``staged/contacts`` (the same delivery's contacts
    are staged first), and publish, which publishes contacts first, finds them in raw."""
    joined = (
        f"select s.* replace (m.contact_id as contact_id) from ({body}) as s "
        f"join ({_CONTACTS_BY_EMAIL}) as m on m.email_key = lower(trim(s.contact_id))"
    )
    try:
        unmatched, total = con.execute(
            f"select count(*) filter (where m.contact_id is null), count(*) from ({body}) as s "
            f"left join ({_CONTACTS_BY_EMAIL}) as m on m.email_key = lower(trim(s.contact_id))"
        ).fetchone()
    except duckdb.Error as exc:
        raise LandingFileError(pending[-1][0].path, _error_kind(exc)) from None
    if total and unmatched == total:
        column = mapping.source_column("contact_id") or "contact_id"
        files = ", ".join(staged.path for staged, _ in pending[:3])
        raise LandingFileError(
            files,
            f"contact_match: email, but none of the {total} row(s) holds the email of a "
            f"contact: is {column!r} the column of the contact's email address, and were "
            "the contacts loaded (or delivered with these files)?",
            column=column,
        )
    return joined, unmatched


def _format_hint(ctype: str, mapping: Mapping) -> str:
    base = ctype.split("(")[0]
    if base == "TIMESTAMP":
        return f" (expected {list(mapping.timestamp_formats) or 'ISO 8601'})"
    if base == "DATE":
        return f" (expected {list(mapping.date_formats) or 'ISO 8601'})"
    if base == "BOOLEAN":
        return f" (expected one of {list(mapping.true_values + mapping.false_values)})"
    if base in ("DECIMAL", "DOUBLE", "INTEGER", "BIGINT"):
        return f" (decimal separator {mapping.decimal_separator!r})"
    return ""


# ---------------------------------------------------------------------------------------
# stage and publish


def stage_source(
    con: duckdb.DuckDBPyConnection,
    mapping: Mapping | Sequence[Mapping],
    landing_dir: Path,
    *,
    loaded_at: datetime | None = None,
) -> StageResult:
    """Point the view ``staged.<source>`` at the landing files not loaded yet.

    Every file is checked first (one aggregate query per file); all or nothing: any bad file
    raises LandingFileError and leaves the staged view as it was. The view reads the files
    themselves, so staging writes no copy of the data: the rows are written once, by
    ``publish``. Several mappings of one source (two systems feeding it, each export in its
    own folder) stage into the one view, each file read through its own mapping.
    """
    mappings = [mapping] if isinstance(mapping, Mapping) else list(mapping)
    source = mappings[0].source
    loaded_at = loaded_at or datetime.now(UTC).replace(tzinfo=None)
    ensure_schemas(con)
    done, unchanged = loaded_files(con, source.name)
    result = StageResult(source.name)
    # per mapping, the files to read: (staged file, (path, rel, shape))
    pending: list[list[tuple[StagedFile, tuple[Path, str, _FileShape]]]] = []
    empty: list[StagedFile] = []  # every row excluded (exclude_rows): loaded, nothing to read
    found = [landing_files(m, landing_dir) for m in mappings]
    _refuse_files_of_two_mappings(mappings, [files for files, _ in found], landing_dir)
    not_exports = sorted({path for _, skipped in found for path in skipped})
    result.not_exports = [str(path.relative_to(landing_dir)) for path in not_exports]
    if not any(files for files, _ in found) and not done and not source.optional:
        folders = " or ".join(str(landing_dir / m.folder) for m in mappings)
        wanted = [f"{m.pattern!r}" for m in mappings if m.pattern]
        wanted_text = f" matching {' or '.join(wanted)}" if wanted else ""
        skipped = (
            f" ({len(not_exports)} temporary, lock, system or README file(s) skipped)"
            if not_exports
            else ""
        )
        raise LandingFileError(
            folders,
            f"no landing file{wanted_text} for source {source.name!r}{skipped}, and none was "
            "ever loaded: drop the export there (or point REVEIL_LANDING_DIR / the mapping's "
            "`folder:` at it)",
        )
    con.execute("set preserve_insertion_order = true")  # row_number() = line order
    try:
        for one, (files, _) in zip(mappings, found, strict=True):
            mine: list[tuple[StagedFile, tuple[Path, str, _FileShape]]] = []
            for path in files:
                rel = str(path.relative_to(landing_dir))
                stat = path.stat()
                if (rel, stat.st_size, stat.st_mtime_ns) in unchanged:
                    result.skipped_files += 1
                    continue
                staged = StagedFile(rel, stat.st_size, stat.st_mtime_ns, content_hash(path))
                if staged.fingerprint in done:  # loaded before, under another name or date
                    result.skipped_files += 1
                    continue
                done.add(staged.fingerprint)  # the same bytes twice in this delivery: once
                shape, rows, excluded = _file_select(con, path, rel, one)
                staged.rows = rows
                result.excluded_rows += excluded
                if not rows:  # all its rows excluded: recorded as loaded, nothing to read
                    empty.append(staged)
                    continue
                mine.append((staged, (path, rel, shape)))
            pending.append(mine)
    finally:
        con.execute("reset preserve_insertion_order")
    target = f"{STAGED}.{q(source.name)}"
    bodies = []
    for one, mine in zip(mappings, pending, strict=True):
        if not mine:
            continue
        body = _staged_select([file for _, file in mine], one, loaded_at)
        if one.contact_match == "email":
            body, unmatched = _match_contacts_by_email(con, body, one, mine)
            result.unmatched_rows += unmatched
        bodies.append(body)
    body = (
        " union all by name ".join(f"({b})" for b in bodies)
        if len(bodies) > 1
        else (bodies[0] if bodies else "")
    )
    staged_files = [s for mine in pending for s, _ in mine]
    con.execute("begin transaction")
    try:
        con.execute(f"delete from {STAGED}._files where source = ?", [source.name])
        con.execute(f"create or replace view {target} as {body or _empty(source.name)}")
        _record_staged_files(con, source.name, [*staged_files, *empty])
        con.execute("commit")
    except Exception as exc:
        con.execute("rollback")
        if isinstance(exc, duckdb.Error) and staged_files:
            raise LandingFileError(staged_files[-1].path, _error_kind(exc)) from None
        raise
    result.files = [*staged_files, *empty]
    result.never_delivered = source.optional and not any(f for f, _ in found) and not done
    return result


def locate_staged_rows(
    warehouse: duckdb.DuckDBPyConnection,
    mapping: Mapping | Sequence[Mapping],
    landing_dir: Path,
    rows: Sequence[dict[str, Any]],
) -> list[list[tuple[str, int | None]]]:
    """Where rows of ``staged.<source>`` come from, for a gate's failure message: for each
    row (a dict holding the source's key columns, and ``_source_file`` when known), the
    landing files and lines an editor shows that hold that key (a repeated key: several; no
    key: the file alone, line None).

    Set-based, and only when a gate failed: one query on the staged view for the rows whose
    file is not known, one read of each file concerned (the file checked again as staging
    does, then its rows matched on the key; the lines of a CSV's records by one more read).
    Values are compared as text. A file that cannot be read again gives no line. With
    several mappings of the source, each file is read through its own."""
    mappings = [mapping] if isinstance(mapping, Mapping) else list(mapping)
    mapping = mappings[0]
    key = mapping.source.key
    wanted = [tuple(None if row.get(k) is None else str(row.get(k)) for k in key) for row in rows]
    files: dict[tuple, set[str]] = {}
    for row, values in zip(rows, wanted, strict=True):
        if row.get("_source_file") is not None and None not in values:
            files.setdefault(values, set()).add(str(row["_source_file"]))
    unknown = sorted({v for v in wanted if None not in v and v not in files})
    if unknown:
        found = warehouse.execute(
            f"select distinct {', '.join(f'cast(s.{q(k)} as varchar)' for k in key)}, "
            f"s._source_file from {STAGED}.{q(mapping.source.name)} as s "
            f"join {_values_sql(unknown, key)} on "
            + " and ".join(f"cast(s.{q(k)} as varchar) = v.{q(k)}" for k in key)
        ).fetchall()
        for *values, rel in found:
            if rel is not None:
                files.setdefault(tuple(values), set()).add(rel)
    by_file: dict[str, set[tuple]] = {}
    for values, rels in files.items():
        for rel in rels:
            by_file.setdefault(rel, set()).add(values)
    lines: dict[tuple, list[tuple[str, int | None]]] = {}
    with duckdb.connect() as con:
        for rel in sorted(by_file):
            keys = sorted(by_file[rel])
            reader = mapping_of_file(mappings, rel, landing_dir) if len(mappings) > 1 else mapping
            found_lines = _key_lines(con, landing_dir / rel, rel, reader, keys)
            for values in keys:
                for line in found_lines.get(values) or [None]:
                    lines.setdefault(values, []).append((rel, line))
    # a row without its key (a null key failed the gate) is found by its file alone
    located = []
    for row, values in zip(rows, wanted, strict=True):
        if None not in values:
            located.append(lines.get(values, []))
        elif row.get("_source_file") is not None:
            located.append([(str(row["_source_file"]), None)])
        else:
            located.append([])
    return located


def _values_sql(rows: Sequence[tuple], names: Sequence[str]) -> str:
    body = ", ".join("(" + ", ".join(lit(v) for v in row) + ")" for row in rows)
    return f"(values {body}) as v({', '.join(q(n) for n in names)})"


def _key_lines(
    con: duckdb.DuckDBPyConnection, path: Path, rel: str, mapping: Mapping, keys: list[tuple]
) -> dict[tuple, list[int]]:
    """The lines of ``path`` whose canonical key (as text) is one of ``keys``."""
    key = mapping.source.key
    try:
        shape, _, _ = _file_select(con, path, rel, mapping)
        header = list(shape.header) if shape.header is not None else None
        relation, offset = _relation_sql(path, mapping, header)
        matched = con.execute(
            f"select {', '.join(f'v.{q(k)}' for k in key)}, r.__reveil_line "
            f"from (select __line as __reveil_line, {', '.join(shape.selects)} "
            f"from ({relation})) as r join {_values_sql(keys, key)} on "
            + " and ".join(f"cast(r.{q(k)} as varchar) = v.{q(k)}" for k in key)
            + " order by r.__reveil_line"
        ).fetchall()
    except (LandingFileError, duckdb.Error, OSError):
        return {}
    records = [row[-1] for row in matched]
    physical = (
        _physical_lines(path, mapping, records=records) if shape.fmt == "csv" and records else {}
    )
    found: dict[tuple, list[int]] = {}
    for *values, record in matched:
        line = physical.get(("record", record)) or record + offset
        found.setdefault(tuple(values), []).append(line)
    return found


def _refuse_files_of_two_mappings(
    mappings: Sequence[Mapping], files: Sequence[list[Path]], landing_dir: Path
) -> None:
    """A file two mappings of one source would both read (same folder, overlapping
    ``files:`` patterns) would load twice, under two readings: refused, naming both."""
    owner: dict[Path, Mapping] = {}
    for mapping, paths in zip(mappings, files, strict=True):
        for path in paths:
            if path in owner:
                names = [m.path.name if m.path else "identity" for m in (owner[path], mapping)]
                raise LandingFileError(
                    path.relative_to(landing_dir),
                    f"matched by two mappings of {mapping.source.name} ({' and '.join(names)}): "
                    "give each its own `folder:` or non-overlapping `files:`",
                )
            owner[path] = mapping


def mapping_of_file(mappings: Sequence[Mapping], rel: str, landing_dir: Path) -> Mapping:
    """The mapping that reads the landing file ``rel`` (the first one when none does)."""
    path = landing_dir / rel
    for mapping in mappings:
        if path in landing_files(mapping, landing_dir)[0]:
            return mapping
    return mappings[0]


def _empty(source: str) -> str:
    return f"select * from {RAW}.{q(source)} where false"


def _record_staged_files(con, source: str, files: Iterable[StagedFile]) -> None:
    rows = [(source, f.path, f.size, f.mtime_ns, f.fingerprint, f.rows) for f in files]
    if rows:
        con.executemany(f"insert into {STAGED}._files values (?, ?, ?, ?, ?, ?)", rows)


def _check_unchanged(con: duckdb.DuckDBPyConnection, landing_dir: Path) -> None:
    """The gates validated the staged files as they were: refuse to publish changed ones."""
    for source, path, size, mtime_ns in con.execute(
        f"select source, file_path, file_size, file_mtime_ns from {STAGED}._files"
    ).fetchall():
        file = landing_dir / path
        try:
            stat = file.stat()
        except FileNotFoundError:
            raise LandingFileError(
                path, f"{source}: the file disappeared after it was validated; run again"
            ) from None
        if (stat.st_size, stat.st_mtime_ns) != (size, mtime_ns):
            raise LandingFileError(
                path, f"{source}: the file changed after it was validated; run again"
            )


def _record_superseded(
    con: duckdb.DuckDBPyConnection, source: Source, staged: str, key_match: str
) -> None:
    """Keep the old values of the rows about to be replaced by a delivery that changes one
    of the source's ``superseded_columns`` (an order moved to another contact or day): the
    replaced row is gone from ``raw`` afterwards, and with it what the incremental models
    need to recompute the contact or the day it left."""
    names = _superseded_names(source)
    changed = " or ".join(f"r.{q(c)} is distinct from s.{q(c)}" for c in source.superseded_columns)
    con.execute(
        f"insert into {RAW}.{q(source.superseded_table)} "
        f"select distinct {', '.join('r.' + q(n) for n in names)}, s._loaded_at "
        f"from {RAW}.{q(source.name)} r inner join {staged} s on {key_match} where {changed}"
    )


@dataclass
class PublishResult:
    source: str
    files: int
    staged_rows: int
    inserted: int
    replaced: int
    total_rows: int
    dropped: int = 0  # staged rows the row filter kept out (purged or suppressed people)


def publish(
    con: duckdb.DuckDBPyConnection,
    sources: Iterable[str],
    *,
    run_id: str = "",
    row_filter: dict[str, str] | None = None,
    column_overrides: dict[str, dict[str, str]] | None = None,
    landing_dir: Path | None = None,
) -> dict[str, PublishResult]:
    """Merge the staged rows into raw, all sources in ONE transaction.

    ``row_filter`` maps a source to an extra SQL predicate on staged rows (alias ``s``) that
    rows must satisfy to be published, e.g. the suppression list for contacts.
    ``column_overrides`` maps a source to ``{column: SQL expression on s}`` replacing a
    column's value on the way in (e.g. the pseudonym of a purged contact's re-delivered order).
    With ``landing_dir``, a staged file that changed since it was validated stops the publish.
    """
    ensure_schemas(con)
    if landing_dir is not None:
        _check_unchanged(con, landing_dir)
    results: dict[str, PublishResult] = {}
    con.execute("begin transaction")
    try:
        for name in sources:
            source = SOURCES[name]
            staged = f"{STAGED}.{q(name)}"
            overrides = (column_overrides or {}).get(name)
            if overrides:
                columns = [
                    f"{overrides[c]} as {q(c)}" if c in overrides else f"s.{q(c)}"
                    for c in [*source.column_names, *(m for m, _ in META_COLUMNS)]
                ]
                staged = f"(select {', '.join(columns)} from {STAGED}.{q(name)} s)"
            raw = f"{RAW}.{q(name)}"
            key_match = " and ".join(f"r.{q(k)} = s.{q(k)}" for k in source.key)
            extra = (row_filter or {}).get(name)
            where = ""
            staged_rows = con.execute(
                f"select coalesce(sum(row_count), 0) from {STAGED}._files where source = ?",
                [name],
            ).fetchone()[0]
            replaced = dropped = 0
            if extra:
                dropped = con.execute(
                    f"select count(*) from {staged} s where not ({extra})"
                ).fetchone()[0]
            if source.merge == "upsert":
                if extra:
                    # a row kept out replaces nothing: a live contact re-delivered with a
                    # suppressed email keeps its stored version (deleting it orphaned its
                    # orders and events and failed every later build)
                    staged = f"(select s.* from {staged} s where {extra})"
                keys = ", ".join(q(k) for k in source.key)
                if source.superseded_table:
                    _record_superseded(con, source, staged, key_match)
                replaced = con.execute(
                    f"delete from {raw} r where ({', '.join('r.' + q(k) for k in source.key)})"
                    f" in (select ({keys}) from {staged})"
                ).fetchone()[0]
                # several deliveries of one key in one batch: the latest delivered file wins
                # (file modification time, then name). Ranking every row costs a sort of the
                # batch (3 s of 6 s for 10.7 M order lines): done only when a key may repeat.
                # A 64-bit hash is grouped, not the key strings (which can exhaust memory at
                # 10 M contacts, see gates.unique_key_query); a collision only takes the
                # ranking path.
                repeats = con.execute(
                    f"select count(*) from (select 1 from {staged} group by hash({keys}) "
                    "having count(*) > 1)"
                ).fetchone()[0]
                batch = f"select * from {staged}"
                if repeats:
                    partition = ", ".join(f"s.{q(k)}" for k in source.key)
                    batch = (
                        f"select s.* from {staged} s left join {STAGED}._files f "
                        f"on f.source = {lit(name)} and f.file_path = s._source_file "
                        f"qualify row_number() over (partition by {partition} "
                        "order by f.file_mtime_ns desc nulls last, s._source_file desc) = 1"
                    )
                inserted = con.execute(
                    f"insert into {raw} select * from ({batch}) s {where}"
                ).fetchone()[0]
            else:
                cond = f"not exists (select 1 from {raw} r where {key_match})"
                where = f"where {cond}" + (f" and {extra}" if extra else "")
                inserted = con.execute(
                    f"insert into {raw} select * from {staged} s {where}"
                ).fetchone()[0]
            files = con.execute(
                f"select count(*) from {STAGED}._files where source = ?", [name]
            ).fetchone()[0]
            con.execute(
                f"""insert into {LOAD_LOG}
                select source, file_path, file_size, file_mtime_ns, fingerprint, row_count,
                       {inserted}, ?, now()
                from {STAGED}._files where source = ?""",
                [run_id, name],
            )
            con.execute(f"delete from {STAGED}._files where source = ?", [name])
            con.execute(f"create or replace view {STAGED}.{q(name)} as {_empty(name)}")
            total = con.execute(f"select count(*) from {raw}").fetchone()[0]
            results[name] = PublishResult(
                name, files, staged_rows, inserted, replaced, total, dropped
            )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return results
