"""Importing this module registers every filter (name → class in one place)."""

from filters.code import CodeTestsFilter
from filters.correctness import CorrectnessFilter
from filters.decontamination import DecontaminationFilter
from filters.dedup import DedupFilter
from filters.format import FormatFilter
from filters.language import LanguageFilter
from filters.readability import ReadabilityFilter

ALL = [FormatFilter, ReadabilityFilter, LanguageFilter, DecontaminationFilter, CorrectnessFilter, CodeTestsFilter,
       DedupFilter]
