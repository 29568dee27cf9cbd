"""Write MODEL_ZOO.md from the model zoo table (mask2former/model_zoo/checkpoints.json) and the
tests' state-dict references.

    python tools/write_model_zoo.py            # rewrites MODEL_ZOO.md at the repository root
    python tools/write_model_zoo.py --check    # exit 1 when MODEL_ZOO.md is out of date
"""

import argparse
import os
import sys

from mask2former.model_zoo.markdown import model_zoo_markdown, referenced_configs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=os.path.join(REPO, "MODEL_ZOO.md"))
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    text = model_zoo_markdown(
        referenced_configs(os.path.join(REPO, "tests", "data", "checkpoint_keys"))
    )
    if args.check:
        with open(args.output, encoding="utf-8") as f:
            if f.read() != text:
                print(
                    f"{args.output} is out of date: run python tools/write_model_zoo.py",
                    file=sys.stderr,
                )
                return 1
        return 0
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
