"""Rejection filters: every trace gets a verdict, every rejection a reason.

One module per filter; each is a small class whose one method, `reject(row)`,
returns None to keep the row or a short reason string to drop it, and which
declares its kind (filters/base.py): a row filter, an answer check, or a group
filter (dedup). The chain (`filters/chain.py`) runs them in the configured
order as the steps of filters/pipeline/, on an executor of filters/executor/,
and records the first reason that fires.
"""
