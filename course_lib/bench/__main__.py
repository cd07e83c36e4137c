"""The command ``python -m course_lib.bench [--quick] [--json FILE]``.

It runs :func:`course_lib.bench.record.run_suite`, prints the table and writes
the record to ``data/benchmarks/<machine>_<profile>.json`` (or ``FILE``).

Introduced in notebooks/09_speed_benchmarks.ipynb.
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import tensorflow as tf

from course_lib.bench import record


def main(argv=None) -> int:
    """Run ``python -m course_lib.bench [--quick] [--json FILE]``.

    Args:
        argv: The command-line arguments (``None``: ``sys.argv[1:]``).

    Returns:
        The exit status.
    """
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.bench",
        description="Measure sampling and training speed and store the figures.",
    )
    parser.add_argument("--quick", action="store_true", help="short windows")
    parser.add_argument(
        "--json",
        help="where to write the record (default: "
        "data/benchmarks/<machine>_<profile>.json)",
    )
    args = parser.parse_args(argv)
    tf.get_logger().setLevel("ERROR")
    suite_record = record.run_suite(quick=args.quick)
    print()
    print(record.format_table(suite_record))
    path = args.json or record.default_json_path(suite_record)
    with open(path, "w") as handle:
        json.dump(suite_record, handle, indent=1)
        handle.write("\n")
    print(f"\nwrote {os.path.relpath(path)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
