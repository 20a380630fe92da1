"""Independent check of a landing Parquet object: read it with pyarrow (Arrow C++, not arrow-rs)
and compare every value with what Postgres printed for it.

usage: parquet_check.py OBJECT.parquet EXPECTED.json
EXPECTED.json: {"key": "<pk column>", "columns": {name: [text or null, ...]}} in key order.
Exits 0 when every value matches, 1 with the differences otherwise.
"""
import datetime
import decimal
import json
import struct
import sys

import pyarrow as pa
import pyarrow.parquet as pq


def same(pa_type, value, text):
    if text is None or value is None:
        return text is None and value is None
    if pa.types.is_decimal(pa_type):
        return decimal.Decimal(text) == value
    if pa.types.is_timestamp(pa_type):
        parsed = datetime.datetime.fromisoformat(text)
        return parsed == value
    if pa.types.is_date(pa_type):
        return datetime.date.fromisoformat(text) == value
    if pa.types.is_time(pa_type):
        return datetime.time.fromisoformat(text) == value
    if pa.types.is_boolean(pa_type):
        return (text == "t") == value
    if pa.types.is_binary(pa_type):
        return bytes.fromhex(text[2:]) == value
    if pa.types.is_float32(pa_type):
        return struct.unpack("f", struct.pack("f", float(text)))[0] == value
    if pa.types.is_floating(pa_type):
        return float(text) == value
    if pa.types.is_integer(pa_type):
        return int(text) == value
    return text == value


def main():
    table = pq.read_table(sys.argv[1])
    expected = json.load(open(sys.argv[2]))
    table = table.sort_by(expected["key"])
    problems = []
    for name, texts in expected["columns"].items():
        column = table.column(name)
        values = column.to_pylist()
        if len(values) != len(texts):
            problems.append(f"{name}: {len(values)} values, expected {len(texts)}")
            continue
        for i, (value, text) in enumerate(zip(values, texts)):
            if not same(column.type, value, text):
                problems.append(f"{name}[{i}] ({column.type}): parquet {value!r} != postgres {text!r}")
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print(f"ok: {table.num_rows} rows, {len(expected['columns'])} columns")


main()
