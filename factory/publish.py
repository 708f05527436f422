"""Publish accepted traces to the Hugging Face Hub with an honest dataset card.

usage:
  python -m factory.publish --data runs/r1-math-filtered --repo-id you/r1-math-traces --private
  python -m factory.publish --data runs/r1-math-filtered --repo-id you/r1-math-traces \\
      --dry-run --stage runs/r1-math-stage
  python -m factory.publish --data students/mixtures/r1.yaml --repo-id you/r1-sft-mix \\
      --dry-run --stage runs/r1-mix-stage    # a mixture: built in runs/r1-mix-stage.mixture, then staged
  python -m factory.publish --dry-run      # stage the lab's filtered traces in runs/lab/hub

Stages a Hub-ready dataset repo (data/*.parquet, README.md card with metadata, the
funnel and length charts), checks that `datasets.load_dataset` returns exactly the
accepted rows and that the card's metadata is valid, then uploads: the repo is
created if needed, files already on the Hub are skipped (re-publishing the same data
changes nothing) and an interrupted upload resumes. A mixture file (students/mixture.py) is built
first (--mixture-out, default STAGE.mixture) and published with a card naming each source's share. The token comes from HF_TOKEN or
the stored login (`hf auth login`) and is never printed or written anywhere.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from factory import lab
from factory.core.cli import parse_config, quiet, run_cli
from factory.hub.publishing import PublishConfig, publish_dataset
from students import mixture


def parse(argv: list[str]):
    """The config, with the lab's defaults: its filter run, and on a dry run with no
    --repo-id its placeholder repo and staging folder (runs/lab/hub)."""
    config = parse_config(PublishConfig, argv, prog="python -m factory.publish", doc=__doc__,
                          defaults={"data": lab.FILTER_OUT})
    if config.repo_id is None:
        config.repo_id = lab.PLACEHOLDER_REPO
        config.stage = config.stage or lab.STAGE
    return config


def main(argv: list[str] | None = None) -> int:
    # The one-commit classic-LFS upload the tests cover (factory/hub/upload.py);
    # huggingface_hub reads this once, when it is first imported (factory.hub imports it only
    # inside the functions that talk to the Hub).
    os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
    argv = list(sys.argv[1:] if argv is None else argv)

    def go() -> int:
        config = parse(argv)
        if config.stage is not None:  # beside the staged folder, never in it (or in the data)
            quiet(config, config.stage, "publish", beside=True)
        if mixture.is_mixture_file(config.data):
            config.data = build_mixture(config)
        result = publish_dataset(config)
        print(f"staged {result.stage}: {result.rows:,} accepted rows in {result.files} file(s), configs "
              f"{', '.join(f'{k} ({v:,})' for k, v in result.configs.items())}; load_dataset round-trip ok; "
              "card ok")
        print(f"published {result.url}" if result.url else "dry run: nothing uploaded")
        return 0

    return run_cli(go)


def build_mixture(config: PublishConfig) -> Path:
    """The mixture file --data built (or reused) in --mixture-out, STAGE.mixture, or a temporary folder."""
    stage = config.stage
    folder = config.mixture_out or (stage.with_name(stage.name + ".mixture") if stage else
                                    Path(tempfile.mkdtemp(prefix="factory-mixture-")) / "mixture")
    result = mixture.build(mixture.load(config.data, check_sources=False), folder, overwrite=True)
    print(f"mixture {folder}: {', '.join(f'{n:,} {s}' for s, n in result.rows.items())} rows from "
          f"{len(result.sources)} sources{' (reused)' if result.reused else ''}")
    return folder


if __name__ == "__main__":
    sys.exit(main())
