"""One command that reproduces the course's shipped weights.

Usage::

    python -m course_lib.train classifier           # the evaluation classifier
    python -m course_lib.train gan --profile full   # the DCGAN of notebook 04
    python -m course_lib.train vae --profile full   # the VAE of notebook 05

Each sub-command lives beside the code it trains; this module only dispatches.

Introduced in notebooks/04_gan_training.ipynb.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from course_lib import config

# Sub-command name -> "module:function". Each function takes (profile, seed) and
# returns a dict summarising what was trained and where it was saved.
COMMANDS = {
    "classifier": "course_lib.evaluation:train_classifier_command",
    "gan": "course_lib.training:train_gan_command",
    "vae": "course_lib.vae:train_vae_command",
}


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one training command.

    Args:
        argv: Arguments, as for ``python -m course_lib.train``.

    Returns:
        The process exit status.
    """
    parser = argparse.ArgumentParser(description="Train a course model.")
    parser.add_argument("what", choices=sorted(COMMANDS))
    parser.add_argument("--profile", default="full", help="quick or full")
    parser.add_argument("--seed", type=int, default=config.DEFAULT_SEED)
    args = parser.parse_args(argv)
    try:
        profile = config.get_profile(args.profile)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    module_name, function_name = COMMANDS[args.what].split(":")
    command = getattr(importlib.import_module(module_name), function_name)
    summary = command(profile, args.seed)
    for key, value in summary.items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
