"""tote's SQL models run by DuckDB over a landing zone: the peer `tote bench` times a first
transform against (state-machine/bench/src/duckdb.rs).

    python duckdb_transform.py SPEC

SPEC is a JSON object that `tote bench` writes, so that the tables, their keys and the models
have one definition (tote's):

    {"out": dir, "threads": n, "memory_limit_mb": m or null, "temp_directory": dir,
     "tables": {"sales_order": {"key": "sales_order_id", "files": [path, ...]}, ...},
     "models": {"fact_sales_order": "<its SQL>", ...}}

A table's files are the data objects of every batch committed to its landing log, as the
manifests name them (tote's object layout is tote_core::layout's, not this script's).

Each source table `T` becomes what tote's transform gives a model on a first run: `T__changes`,
every landed version deduplicated on (primary key, last_updated), and `T` and `T__latest`, its
current state and the newest version of each changed key (the same on a first run). Every model then runs once and is written to `out/<model>.parquet`
as zstd Parquet. Two DataFusion names are translated: `to_char(d, fmt)` is DuckDB's
`strftime(d, fmt)`, and `iso_currency_name(code)` (a Rust UDF in tote) is a lookup in a small
table of the ISO 4217 names of the codes ToteSys uses. Prints `{"rows": {model: n}, "seconds":
{...}}` on stdout, so that the bench can check both engines produced the same rows.
"""

import json
import os
import sys
import time

import duckdb

# ISO 4217 names (as tote's rust_iso4217 spells them) of the currencies ToteSys holds.
ISO_4217 = {"GBP": "Pound Sterling", "USD": "US Dollar", "EUR": "Euro"}


def ident(name):
    """A quoted SQL identifier (the names come from tote's allow-list; quoting keeps them exact)."""
    return '"' + name.replace('"', '""') + '"'


def literal(text):
    """A quoted SQL string literal (paths only; DuckDB's COPY and read_parquet take no parameters)."""
    return "'" + text.replace("'", "''") + "'"


def translate(sql):
    """DataFusion's spellings of the two functions DuckDB names differently."""
    return sql.replace("to_char(", "strftime(")


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    timings = {}
    started = time.monotonic()
    config = {"threads": int(spec.get("threads", os.cpu_count() or 1))}
    # The same memory as tote's transform is given: DuckDB spills beyond it, as tote does.
    if spec.get("memory_limit_mb"):
        config["memory_limit"] = f"{int(spec['memory_limit_mb'])}MB"
    if "temp_directory" in spec:
        config["temp_directory"] = spec["temp_directory"]
    db = duckdb.connect(config=config)
    db.execute("CREATE TABLE iso_4217 (code VARCHAR PRIMARY KEY, name VARCHAR)")
    db.executemany("INSERT INTO iso_4217 VALUES (?, ?)", list(ISO_4217.items()))
    db.execute(
        "CREATE MACRO iso_currency_name(c) AS (SELECT name FROM iso_4217 WHERE code = c)"
    )
    # The data objects of every committed landing batch, from the manifests the commit log names.
    for table, landed in spec["tables"].items():
        key, files = landed["key"], landed["files"]
        changes, current = ident(table + "__changes"), ident(table)
        latest = ident(table + "__latest")
        listed = "[" + ", ".join(literal(f) for f in files) + "]"
        db.execute(
            f"CREATE TABLE {changes} AS SELECT * FROM read_parquet({listed}) "
            f"QUALIFY row_number() OVER (PARTITION BY {ident(key)}, last_updated) = 1"
        )
        # On a first run the current state and the newest version of each changed key are the same.
        for view in (current, latest):
            db.execute(
                f"CREATE VIEW {view} AS SELECT * FROM {changes} "
                f"QUALIFY row_number() OVER (PARTITION BY {ident(key)} ORDER BY last_updated DESC) = 1"
            )
    timings["read_landing"] = time.monotonic() - started

    os.makedirs(spec["out"], exist_ok=True)
    rows = {}
    for model, sql in spec["models"].items():
        at = time.monotonic()
        target = os.path.join(spec["out"], model + ".parquet")
        # COPY answers the rows it wrote. The SQL may end in a comment: the newline ends it.
        rows[model] = db.execute(
            f"COPY ({translate(sql)}\n) TO {literal(target)} (FORMAT parquet, COMPRESSION zstd)"
        ).fetchone()[0]
        timings[model] = time.monotonic() - at
    json.dump({"rows": rows, "seconds": timings}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
