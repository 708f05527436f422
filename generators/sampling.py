"""Sampling parameters, per-sample seeds, and the request/completion records that flow between
the run loop and a teacher backend: declared on the ground floor (factory/core/teacher.py), where
the filter's judge reads them too."""

from factory.core.teacher import (R1_MAX_TOKENS, R1_TEMPERATURE, R1_TOP_P, Completion, Request, SamplingSpec,
                                  derive_seed)

__all__ = ["R1_MAX_TOKENS", "R1_TEMPERATURE", "R1_TOP_P", "Completion", "Request", "SamplingSpec", "derive_seed"]
