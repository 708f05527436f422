"""Where the filter run's steps (filters/pipeline/) run: `local.py`, a process pool on this
machine; `ray.py`, Ray Data on a cluster. Both only map the judge step over batches and run the
grouped step per group; `base.py` says what they promise."""
