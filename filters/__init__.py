"""Rejection filters: every trace gets a verdict, every rejection a reason.

One module per filter; each is a small class whose one method, `reject(row)`,
returns None to keep the row or a short reason string to drop it. The chain
(`filters/chain.py`) runs them in the configured order and records the first
reason that fires.
"""
