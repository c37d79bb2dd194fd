"""YAML mappings from a user's export to reveil's canonical schema.

One file per source in the mappings folder (``data/mappings/<source>.yml`` by default,
``REVEIL_MAPPINGS_DIR`` to point elsewhere), and ``<source>.<name>.yml`` for each other system
feeding the same source. A missing file means "the export already has
the canonical names" (what the demo generator writes). The format is documented in
``data/mappings/README.md``; every key is optional except ``source``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from dagster_project.lib.schema import SOURCES, Source

DEFAULT_TRUE = ("true", "t", "1", "yes", "y")
DEFAULT_FALSE = ("false", "f", "0", "no", "n")
_FORMATS = ("csv", "parquet", "json")
# contact_match: the column mapped to contact_id holds the contact id, or the contact's email
CONTACT_MATCHES = ("id", "email")
REPEATED_KEYS = ("error", "merge")


class MappingError(ValueError):
    """A mapping file is itself wrong (unknown source, unknown column, bad option)."""


@dataclass(frozen=True)
class CsvOptions:
    delimiter: str = ","
    header: bool = True
    encoding: str = "utf-8"
    quote: str = '"'
    escape: str = '"'
    skip_rows: int = 0
    null_values: tuple[str, ...] = ("",)


@dataclass(frozen=True)
class Mapping:
    source: Source
    folder: str
    pattern: str | None
    format: str | None  # None: from each file's extension
    csv: CsvOptions
    # canonical column -> user's column name
    columns: dict[str, str]
    # canonical column -> constant used when the export has no such column
    defaults: dict[str, object]
    timestamp_formats: tuple[str, ...]  # strptime formats; empty: ISO 8601
    date_formats: tuple[str, ...]
    decimal_separator: str
    thousands_separator: str | None
    true_values: tuple[str, ...]
    false_values: tuple[str, ...]
    # canonical column -> {user value: canonical value}
    value_maps: dict[str, dict[str, str | None]] = field(default_factory=dict)
    path: Path | None = None
    # IANA zone of the timestamps written without an offset or a zone; None: UTC
    timezone: str | None = None
    # what the column mapped to contact_id holds: the CRM's contact id, or the contact's email
    # (an ESP's or a shop's export), matched to the contact id while staging
    contact_match: str = "id"
    # canonical column -> the user's columns whose text makes it (an export without ids)
    ids_from: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # a key repeated inside one file: "error" (the gate refuses it) or "merge" (its rows are
    # one record, each giving some of its values: Shopify's orders, a row per line item)
    repeated_keys: str = "error"
    # your column -> values (lower case) whose rows are not loaded (an ESP's other event types)
    exclude_rows: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def source_column(self, canonical: str) -> str | None:
        """The user's column that feeds ``canonical``, or None when it is absent."""
        if canonical in self.columns:
            return self.columns[canonical]
        if canonical in self.defaults:
            return None
        return canonical  # same name as the canonical schema

    def file_format(self, path: Path) -> str:
        if self.format:
            return self.format
        suffixes = [s.lower() for s in path.suffixes]
        if ".parquet" in suffixes:
            return "parquet"
        if {".json", ".jsonl", ".ndjson"} & set(suffixes):
            return "json"
        if ".csv" in suffixes or ".txt" in suffixes or ".tsv" in suffixes:
            return "csv"
        raise MappingError(
            f"{path}: cannot tell the format from the file name: name it .csv, .csv.gz, .tsv, "
            ".txt, .parquet, .json or .jsonl, or set `format:` in the mapping"
        )


def _as_tuple(value, default: tuple[str, ...]) -> tuple[str, ...]:
    if value is None:
        return default
    if isinstance(value, (str, int, bool)):
        value = [value]
    return tuple(str(v).lower() for v in value)


def parse_mapping(raw: dict, path: Path | None = None) -> Mapping:
    where = str(path) if path else "mapping"
    if not isinstance(raw, dict) or "source" not in raw:
        raise MappingError(f"{where}: a mapping needs a `source:` key")
    name = raw["source"]
    if name not in SOURCES:
        raise MappingError(f"{where}: unknown source {name!r}; known: {sorted(SOURCES)}")
    source = SOURCES[name]
    known = set(source.column_names)
    allowed = {
        "source",
        "folder",
        "files",
        "format",
        "csv",
        "columns",
        "defaults",
        "timestamp_format",
        "date_format",
        "decimal_separator",
        "thousands_separator",
        "true_values",
        "false_values",
        "values",
        "timezone",
        "contact_match",
        "ids_from",
        "repeated_keys",
        "exclude_rows",
    }
    unknown_keys = set(raw) - allowed
    if unknown_keys:
        raise MappingError(f"{where}: unknown keys {sorted(unknown_keys)}")
    columns = {str(k): str(v) for k, v in (raw.get("columns") or {}).items()}
    defaults = dict(raw.get("defaults") or {})
    # a value mapped to null (YAML `~` / `null`) becomes SQL NULL, not the text "None"
    values = {
        str(k): {str(a): None if b is None else str(b) for a, b in v.items()}
        for k, v in (raw.get("values") or {}).items()
    }
    for section, keys in (("columns", columns), ("defaults", defaults), ("values", values)):
        bad = set(keys) - known
        if bad:
            raise MappingError(
                f"{where}: `{section}` names columns that {name} does not have: {sorted(bad)}"
            )
    fmt = raw.get("format")
    if fmt is not None and fmt not in _FORMATS:
        raise MappingError(f"{where}: format must be one of {_FORMATS}, got {fmt!r}")
    csv_raw = raw.get("csv") or {}
    bad_csv = set(csv_raw) - set(CsvOptions.__dataclass_fields__)
    if bad_csv:
        raise MappingError(f"{where}: unknown csv options {sorted(bad_csv)}")
    if "null_values" in csv_raw:
        csv_raw = {**csv_raw, "null_values": tuple(str(v) for v in csv_raw["null_values"])}
    csv_options = CsvOptions(**csv_raw)
    decimal = str(raw.get("decimal_separator", "."))
    if decimal not in (".", ","):
        raise MappingError(f"{where}: decimal_separator must be '.' or ','")
    timezone = raw.get("timezone")
    if timezone is not None:
        timezone = _check_timezone(str(timezone), where)
    contact_match = str(raw.get("contact_match", "id"))
    if contact_match not in CONTACT_MATCHES:
        raise MappingError(
            f"{where}: contact_match must be one of {CONTACT_MATCHES}, got {contact_match!r}"
        )
    if contact_match != "id" and (name == "contacts" or "contact_id" not in known):
        raise MappingError(
            f"{where}: contact_match applies to the sources that point to a contact "
            f"(email_events, orders), not to {name}"
        )
    ids_from = _ids_from(raw.get("ids_from"), source, columns, defaults, where)
    exclude_rows = raw.get("exclude_rows") or {}
    if not isinstance(exclude_rows, dict) or not all(
        isinstance(v, (list, str, int, float)) for v in exclude_rows.values()
    ):
        raise MappingError(f"{where}: exclude_rows maps your column to a list of values")
    exclude_rows = {str(k): _as_tuple(v, ()) for k, v in exclude_rows.items()}
    repeated_keys = str(raw.get("repeated_keys", "error"))
    if repeated_keys not in REPEATED_KEYS:
        raise MappingError(
            f"{where}: repeated_keys must be one of {REPEATED_KEYS}, got {repeated_keys!r}"
        )
    return Mapping(
        source=source,
        folder=str(raw.get("folder", name)),
        pattern=raw.get("files"),
        format=fmt,
        csv=csv_options,
        columns=columns,
        defaults=defaults,
        timestamp_formats=tuple(_as_list(raw.get("timestamp_format"))),
        date_formats=tuple(_as_list(raw.get("date_format"))),
        decimal_separator=decimal,
        thousands_separator=raw.get("thousands_separator"),
        true_values=_as_tuple(raw.get("true_values"), DEFAULT_TRUE),
        false_values=_as_tuple(raw.get("false_values"), DEFAULT_FALSE),
        value_maps=values,
        path=path,
        timezone=timezone,
        contact_match=contact_match,
        ids_from=ids_from,
        repeated_keys=repeated_keys,
        exclude_rows=exclude_rows,
    )


def _ids_from(raw, source: Source, columns: dict, defaults: dict, where: str) -> dict:
    """``ids_from: {event_id: [Email, Campaign, Event, Date]}``: checked, as tuples."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise MappingError(f"{where}: ids_from maps a column to a list of your columns")
    found: dict[str, tuple[str, ...]] = {}
    for canonical, users in raw.items():
        canonical = str(canonical)
        if canonical not in source.column_names:
            raise MappingError(
                f"{where}: `ids_from` names a column that {source.name} does not have: "
                f"{canonical!r}"
            )
        if source.column(canonical).type != "VARCHAR":
            raise MappingError(f"{where}: ids_from.{canonical}: only text columns are made")
        if canonical in columns or canonical in defaults:
            raise MappingError(
                f"{where}: {canonical!r} is both in ids_from and in columns/defaults: keep one"
            )
        users = [users] if isinstance(users, str) else users
        if not isinstance(users, list) or not users:
            raise MappingError(f"{where}: ids_from.{canonical} needs a list of your columns")
        found[canonical] = tuple(str(u) for u in users)
    return found


def _check_timezone(name: str, where: str) -> str:
    """The zone name as DuckDB spells it (IANA: ``Europe/Paris``), else a MappingError."""
    import duckdb

    with duckdb.connect() as con:
        known = con.execute(
            "select name from pg_timezone_names() where lower(name) = lower(?)", [name]
        ).fetchone()
    if known is None:
        raise MappingError(
            f"{where}: timezone {name!r} is not a time zone name DuckDB knows: write it as "
            "Region/City (Europe/Paris, America/New_York), or UTC"
        )
    return known[0]


def _as_list(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


class _Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 booleans: only true/false are booleans.

    PyYAML follows YAML 1.1, where yes/no/on/off (any case) are booleans too: a mapping's
    `true_values: [Oui, Yes]` came out as ("oui", "true"), and `values: {actif: On}` as
    "True". Exports are full of such words; they stay the strings the user wrote."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def _mapping_source(stem: str) -> str:
    """The source a mapping file is for: ``orders`` for ``orders.yml`` and for a second
    mapping of the source, ``orders.shopify.yml``."""
    return stem.split(".", 1)[0]


def check_mappings_dir(mappings_dir: Path) -> None:
    """Refuse a mappings folder that would be misread without a word: a folder that does not
    exist (a mistyped ``REVEIL_MAPPINGS_DIR`` read every source with the canonical names
    and the run went green, the exports unread), a YAML file named after no source (only
    ``<source>.yml`` and ``<source>.<name>.yml`` are read: ``orders_shopify.yml`` was
    ignored), or two files for one mapping (``orders.yml`` and ``orders.yaml``)."""
    if not mappings_dir.is_dir():
        raise MappingError(
            f"the mappings folder {mappings_dir} does not exist (REVEIL_MAPPINGS_DIR): "
            "create it, or unset the variable to use the project's data/mappings"
        )
    yamls = sorted(
        p for p in mappings_dir.iterdir() if p.is_file() and p.suffix.lower() in (".yml", ".yaml")
    )
    strays = [p.name for p in yamls if _mapping_source(p.stem) not in SOURCES]
    if strays:
        raise MappingError(
            f"{mappings_dir}: {', '.join(strays)} named after no source: a source's mapping is "
            f"<source>.yml, and a second one for the same source <source>.<name>.yml "
            f"({', '.join(sorted(SOURCES))})"
        )
    stems = [p.stem for p in yamls]
    twice = sorted({stem for stem in stems if stems.count(stem) > 1})
    if twice:
        raise MappingError(f"{mappings_dir}: two mapping files for {', '.join(twice)}: keep one")


def _read_mapping(path: Path, source: str) -> Mapping:
    with path.open(encoding="utf-8") as handle:
        try:
            raw = yaml.load(handle, Loader=_Yaml12Loader) or {}  # noqa: S506 (a SafeLoader)
        except yaml.YAMLError as exc:
            raise MappingError(f"{path}: not valid YAML: {exc}") from exc
    if raw.get("source", source) != source:
        raise MappingError(f"{path}: says source {raw.get('source')!r} but is named {source}")
    raw.setdefault("source", source)
    return parse_mapping(raw, path)


def load_mappings(source: str, mappings_dir: Path) -> list[Mapping]:
    """Every mapping of ``source`` in ``mappings_dir`` (``<source>.yml``, then
    ``<source>.<name>.yml`` in name order: two systems feeding one source, each export in its
    own folder), or the identity mapping when there is none."""
    check_mappings_dir(mappings_dir)
    paths = sorted(
        (
            p
            for p in mappings_dir.iterdir()
            if p.is_file()
            and p.suffix.lower() in (".yml", ".yaml")
            and _mapping_source(p.stem) == source
        ),
        key=lambda p: (p.stem != source, p.stem),
    )
    if not paths:
        return [parse_mapping({"source": source})]
    return [_read_mapping(path, source) for path in paths]


def load_mapping(source: str, mappings_dir: Path) -> Mapping:
    """The mapping of ``source`` (``<source>.yml``), or the identity mapping; see
    :func:`load_mappings` for a source with several."""
    return load_mappings(source, mappings_dir)[0]
