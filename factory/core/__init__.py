"""The ground floor: what every stage uses, and which imports no stage.

- `layout`: the run folder (traces/, accepted/, rejected/, manifest.json, stats.json …)
- `inputs`: one reader for "a file, a folder, a run folder or a Hub dataset id"
- `outdir`: output folders: apart from the inputs, one lock each, replaced only when owned
- `shards`: atomic writes, the rolling Parquet shard writer, reading columns back
- `manifest`: a run's identity and provenance
- `progress`: rate and ETA lines for long jobs
- `errors`: InputError (exit 2) and RuntimeFailure (exit 1)
- `cli`: config dataclass → flags, exit codes
- `types`, `yamlfile`: config values checked against their annotations; YAML keys' lines
- `charts`: the PNGs cards and the demo show

Imports go one way: verbs (factory/*.py) → stages (generators, filters, students,
factory/hub, factory/evaluation) → this package. tests/test_layout.py checks it.
"""
