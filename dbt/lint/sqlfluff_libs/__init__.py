"""Stand-ins for dbt's Jinja context, so sqlfluff's jinja templater can render the models.

sqlfluff lints with the plain jinja templater (the dbt templater would need a warehouse).
Its dbt builtins cover ref/source/config/return; this library adds what the project's real
macros (loaded from ../../macros) also call: var() with the values of dbt_project.yml, and the
dbt / adapter / modules / exceptions namespaces, rendering DuckDB-flavoured SQL that is close
enough to what dbt compiles for the layout and style rules to be meaningful.
"""

import datetime as _datetime
import types as _types
from pathlib import Path as _Path

import yaml as _yaml

_PROJECT = _Path(__file__).resolve().parents[2] / "dbt_project.yml"
_VARS = _yaml.safe_load(_PROJECT.read_text()).get("vars", {})


def var(name, default=None):
    return _VARS.get(name, default)


def _flatten(args):
    for arg in args:
        if isinstance(arg, list | tuple):
            yield from _flatten(arg)
        else:
            yield str(arg)


def _call(name):
    return lambda *args, **kwargs: f"{name}({', '.join(_flatten(args))})"


class _Dbt:
    """dbt's cross-database macros (dbt.concat, dbt.dateadd, dbt.type_string, ...)."""

    _TYPES = {
        "string": "varchar",
        "bigint": "bigint",
        "int": "integer",
        "numeric": "numeric",
        "float": "double",
        "timestamp": "timestamp",
        "boolean": "boolean",
    }

    def __getattr__(self, name):
        if name.startswith("type_"):
            return lambda *args: self._TYPES.get(name[5:], "varchar")
        return _call(name)

    @staticmethod
    def safe_cast(field, type_):
        return f"cast({field} as {type_})"

    @staticmethod
    def concat(fields):
        return " || ".join(_flatten(fields))

    @staticmethod
    def dateadd(datepart, interval, from_date_or_timestamp):
        return f"date_add({from_date_or_timestamp}, interval ({interval}) {datepart})"

    @staticmethod
    def datediff(first_date, second_date, datepart):
        return f"date_diff('{datepart}', {first_date}, {second_date})"

    @staticmethod
    def hash(field):
        return f"md5({field})"


class _Adapter:
    @staticmethod
    def dispatch(macro_name, macro_namespace=None):
        return _call(macro_name)


class _Exceptions:
    @staticmethod
    def raise_compiler_error(message):
        return ""

    @staticmethod
    def warn(message):
        return ""


dbt = _Dbt()
adapter = _Adapter()
exceptions = _Exceptions()
modules = _types.SimpleNamespace(datetime=_datetime, pytz=_datetime.timezone)  # pytz.utc
target = _types.SimpleNamespace(name="duckdb", schema="main", type="duckdb")
