"""Seeded, vectorised generator of reveil's six sources (see ``core`` for the model).

    from dagster_project.generate import generate, generate_day
    generate("data/landing", contacts=2_000, seed=42)            # history up to today
    generate_day("data/landing", "2025-06-02", contacts=2_000, seed=42, as_of="2025-06-01")

Command line: ``python -m dagster_project.generate --help``.
"""

from dagster_project.generate.core import (
    FORMATS,
    SOURCE_NAMES,
    GeneratorInputError,
    generate,
    generate_day,
)

__all__ = ["FORMATS", "SOURCE_NAMES", "GeneratorInputError", "generate", "generate_day"]
