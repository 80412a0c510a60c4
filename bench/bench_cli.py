"""CLI start-up benchmark: ``klantreis journeys dfg`` on a stored graph against a bare DuckDB
query process, each timed as a whole process, interleaved.

``python -m bench.bench_cli --db demo-data/demo.duckdb --rounds 7 [--before OLD/src]``

With ``--before``, the same commands of another checkout's ``src`` (e.g. ``git archive main
src | tar -x -C /tmp/old``) run in the same rounds, interleaved.

The store needs its journey index and stored graph: the benchmark runs the command once
first (uncounted). Target (issue 17): the dfg command within 2x of the bare process.

klantreis's own modules are byte-compiled first (as ``pip install`` does): with
``PYTHONDONTWRITEBYTECODE`` set and no ``__pycache__``, every run would compile ~100 source
files (about 0.15 s of CPU) that an installed klantreis never compiles.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import sys

from bench.process import interleaved, klantreis_command, load_average, median

__all__ = ["main"]

_BARE = "import duckdb; duckdb.connect({db!r}, read_only=True).sql('select 1').fetchall()"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", default="demo-data/demo.duckdb", help="a store with events")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--before", help="the src folder of another checkout, run alongside")
    args = parser.parse_args(argv)
    compile_package("klantreis")
    commands: dict[str, list[str]] = {}
    if args.before:
        compileall.compile_dir(args.before, quiet=1)
        commands |= {
            "before: klantreis journeys dfg": _from_src(
                args.before, "journeys", "dfg", "--db", args.db
            ),
            "before: klantreis --help": _from_src(args.before, "--help"),
        }
    commands |= {
        "klantreis journeys dfg": klantreis_command("journeys", "dfg", "--db", args.db),
        "klantreis journeys dfg --json": klantreis_command(
            "journeys", "dfg", "--db", args.db, "--json"
        ),
        "klantreis --help": klantreis_command("--help"),
        "bare DuckDB query process": [sys.executable, "-c", _BARE.format(db=args.db)],
    }
    before = load_average()
    runs = interleaved(commands, args.rounds)
    bare = runs["bare DuckDB query process"]
    print(
        f"median of {args.rounds} interleaved rounds; load average {before} -> {load_average()}\n"
    )
    print("| command | wall s | CPU s | peak MiB | x bare (wall) | x bare (CPU) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, rs in runs.items():
        ratio_wall = median(rs, "wall_s") / median(bare, "wall_s")
        ratio_cpu = median(rs, "cpu_s") / median(bare, "cpu_s")
        print(
            f"| {name} | {median(rs, 'wall_s'):.3f} | {median(rs, 'cpu_s'):.3f}"
            f" | {median(rs, 'peak_mib'):.0f} | {ratio_wall:.2f} | {ratio_cpu:.2f} |"
        )


def _from_src(src: str, *args: str) -> list[str]:
    """``klantreis ARGS`` with the package of ``src`` (first on the path)."""
    code = f"import sys; sys.path.insert(0, {src!r}); from klantreis.cli.main import cli; cli()"
    return [sys.executable, "-c", code, *args]


def compile_package(name: str) -> None:
    """Byte-compile the package the child processes import (quietly; already compiled
    files are skipped)."""
    spec = importlib.util.find_spec(name)
    for location in (spec.submodule_search_locations or []) if spec else []:
        compileall.compile_dir(location, quiet=1)


if __name__ == "__main__":
    main(sys.argv[1:])
