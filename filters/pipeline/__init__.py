"""The filter run's steps, over batches of rows; none knows where it runs (filters/executor/):

    rows.py    read: an input table → rows; the first pass (problems, majority answers)
    judge.py   judge: rows → verdicts (row filters, answer checks, group features), pure;
               the math-verify calls, each distinct one once, killable
    group.py   grouped: the group filters (dedup, caps), in input order within each group
    output.py  output: accepted/ and rejected/, the report, the accepted + rejected = input
               check, stats.json, the swap of OUT.partial into OUT
"""
