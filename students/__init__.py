"""Students: SFT of the R1 paper's six distilled models on accepted traces, with TRL."""
