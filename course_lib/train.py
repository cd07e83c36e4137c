"""One command that reproduces the course's shipped weights.

Usage::

    python -m course_lib.train classifier           # the evaluation classifier
    python -m course_lib.train gan --profile full   # the DCGAN of notebook 05
    python -m course_lib.train vae --profile full   # the VAE of notebook 07
    python -m course_lib.train tokens --profile full  # notebook 08's token models
    python -m course_lib.train remeasure --profile full  # measure gan, vae again

Each model command trains exactly its recipe (``course_lib.recipes``);
``remeasure`` trains nothing. The commands live in ``course_lib.ship`` and
``course_lib.tokens_ship``; this module only parses the command line.

Introduced in notebooks/05_gan_training.ipynb.
"""

from __future__ import annotations

import argparse
import sys

from course_lib import config, ship, tokens_ship

# Sub-command -> function(profile, seed) returning a summary dict.
COMMANDS = {**ship.COMMANDS, "tokens": tokens_ship.ship}


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one command (a training, or ``remeasure``).

    Args:
        argv: Arguments, as for ``python -m course_lib.train``.

    Returns:
        The process exit status.
    """
    parser = argparse.ArgumentParser(
        description="Train a course model, or measure the shipped ones again."
    )
    parser.add_argument("what", choices=sorted(COMMANDS))
    parser.add_argument("--profile", default="full", help="quick or full")
    parser.add_argument("--seed", type=int, default=config.DEFAULT_SEED)
    args = parser.parse_args(argv)
    try:
        profile = config.get_profile(args.profile)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    summary = COMMANDS[args.what](profile, args.seed)
    for key, value in summary.items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
