r"""Traces in the shapes real teachers write, for the filter tests.

DeepSeek-R1 and its distillations think in long `<think>` blocks: a restatement
of the problem, display equations between `\[` and `\]` lines, `\begin{aligned}`
blocks, "Wait," and "Hmm." self-corrections, the same equation restated while
checking, markdown headers, lists and tables, and a response that summarises
the solution with a **Final Answer** in `\boxed{}`. Problems come from
competitions: some have Asymptote drawings, many end in "Express your answer as
a common fraction." Rules tuned on tidy synthetic text rejected a large share of good
real traces; every clean trace here must pass every filter.

`CLEAN` holds correct, clean traces (none of them a benchmark problem);
`flawed(trace, flaw)` makes the flawed twin a real teacher also writes.
"""

from __future__ import annotations

import copy

GEOMETRY = {
    "id": "geo-1",
    "problem": r"""In the diagram, $ABCD$ is a rectangle with $AB = 12$ and $BC = 5$. Point $E$ lies on $\overline{CD}$ so that $DE = 4$. What is the ratio of the area of triangle $ABE$ to the area of the rectangle $ABCD$? Express your answer as a common fraction.

[asy]
unitsize(0.4 cm);
pair A, B, C, D, E;
A = (0,0); B = (12,0); C = (12,5); D = (0,5); E = (4,5);
draw(A--B--C--D--cycle);
draw(A--E--B);
filldraw(circle((0,0),0.15),black);
label("$A$", A, SW); label("$B$", B, SE); label("$C$", C, NE); label("$D$", D, NW); label("$E$", E, N);
[/asy]""",
    "answer": r"\frac{1}{2}",
    "reasoning": r"""Okay, so I need to find the ratio of the area of triangle ABE to the area of rectangle ABCD. Let me start by understanding the diagram.

The rectangle has vertices A at (0,0), B at (12,0), C at (12,5), and D at (0,5). So AB = 12 is the bottom side and BC = 5 is the right side. Point E is on CD with DE = 4, so E is at (4,5).

First, the area of the rectangle:

\[
\text{Area}_{ABCD} = AB \times BC = 12 \times 5 = 60.
\]

Now triangle ABE. Its base is AB, which lies along the x-axis from (0,0) to (12,0), and the third vertex E is at height 5. So the height from E to AB is 5.

\[
\text{Area}_{ABE} = \frac{1}{2} \times 12 \times 5 = 30.
\]

Wait, that doesn't depend on where E is at all. Is that right? Let me think. Any point on CD is at distance 5 from line AB, because CD is parallel to AB. So yes, the triangle always has half the area of the rectangle. That's a classic fact.

Hmm, let me double-check with the shoelace formula just to be safe. The vertices are A(0,0), B(12,0), E(4,5).

\[
\begin{aligned}
\text{Area} &= \frac{1}{2} \left| x_A(y_B - y_E) + x_B(y_E - y_A) + x_E(y_A - y_B) \right| \\
&= \frac{1}{2} \left| 0 \cdot (0 - 5) + 12 \cdot (5 - 0) + 4 \cdot (0 - 0) \right| \\
&= \frac{1}{2} \cdot 60 = 30.
\end{aligned}
\]

Yes, 30 again. So the ratio is

\[
\frac{30}{60} = \frac{1}{2}.
\]

Wait, the problem says "Express your answer as a common fraction." So the answer is \(\frac{1}{2}\). Let me make sure I didn't misread which region. The problem asks for triangle ABE compared to rectangle ABCD, not to the rest of the rectangle. If it were the rest, the answer would be 30/30 = 1, which would not need a common fraction. So \(\frac{1}{2}\) it is.

Also, the value DE = 4 is a distractor: it fixes E but doesn't change the area.""",
    "response": r"""The triangle $ABE$ has base $AB = 12$ and its apex $E$ on $\overline{CD}$, which is parallel to $\overline{AB}$ at distance $BC = 5$.

- Area of the rectangle: $12 \times 5 = 60$.
- Area of triangle $ABE$: $\frac{1}{2} \times 12 \times 5 = 30$.

The ratio is $\frac{30}{60} = \frac{1}{2}$, whatever the position of $E$.

**Final Answer**
\[
\boxed{\dfrac{1}{2}}
\]""",
}

FLOOR = {
    "id": "nt-1",
    "problem": r"Let $\lfloor x \rfloor$ denote the greatest integer less than or equal to $x$. Find the number of positive integers $n \le 100$ such that $\left\lfloor \frac{n}{3} \right\rfloor + \left\lfloor \frac{n}{4} \right\rfloor = \left\lfloor \frac{7n}{12} \right\rfloor$.",
    "answer": "75",
    "reasoning": r"""Okay, let's see. I need to count positive integers n up to 100 with floor(n/3) + floor(n/4) = floor(7n/12).

First, note that n/3 + n/4 = 7n/12 exactly. So the question is when the floors add up without losing anything.

Let me write n/3 = floor(n/3) + {n/3} and n/4 = floor(n/4) + {n/4}, where {·} is the fractional part. Then

\[
\left\lfloor \frac{7n}{12} \right\rfloor = \left\lfloor \frac{n}{3} \right\rfloor + \left\lfloor \frac{n}{4} \right\rfloor + \left\lfloor \left\{ \frac{n}{3} \right\} + \left\{ \frac{n}{4} \right\} \right\rfloor.
\]

So the condition is

\[
\left\{ \frac{n}{3} \right\} + \left\{ \frac{n}{4} \right\} < 1.
\]

The fractional parts depend only on n mod 12. Let me tabulate r = n mod 12.

| r | {r/3} | {r/4} | sum | < 1? |
|---|---|---|---|---|
| 0 | 0 | 0 | 0 | yes |
| 1 | 1/3 | 1/4 | 7/12 | yes |
| 2 | 2/3 | 1/2 | 7/6 | no |
| 3 | 0 | 3/4 | 3/4 | yes |
| 4 | 1/3 | 0 | 1/3 | yes |
| 5 | 2/3 | 1/4 | 11/12 | yes |
| 6 | 0 | 1/2 | 1/2 | yes |
| 7 | 1/3 | 3/4 | 13/12 | no |
| 8 | 2/3 | 0 | 2/3 | yes |
| 9 | 0 | 1/4 | 1/4 | yes |
| 10 | 1/3 | 1/2 | 5/6 | yes |
| 11 | 2/3 | 3/4 | 17/12 | no |

So the bad residues are r = 2, 7, 11. That's 3 out of every 12.

Wait, let me double-check r = 5: 5/3 = 1.666..., fractional part 2/3. 5/4 = 1.25, fractional part 1/4. Sum 2/3 + 1/4 = 8/12 + 3/12 = 11/12 < 1. Yes.

And r = 10: 10/3 = 3.333..., fractional part 1/3; 10/4 = 2.5, fractional part 1/2. Sum 5/6. Fine.

Now count n from 1 to 100. 100 = 8 · 12 + 4, so there are 8 full blocks (n = 1 to 96) and then n = 97, 98, 99, 100.

In each full block there are 12 - 3 = 9 good values, so 8 · 9 = 72.

The leftover n = 97, 98, 99, 100 have residues 1, 2, 3, 4. Of those, only r = 2 is bad. So 3 more.

Hmm, 72 + 3 = 75. But wait, I should double check the first block. For n from 1 to 12 the residues are 1, 2, ..., 11, 0, which is every residue once. So each block of 12 consecutive integers covers every residue exactly once. Good.

Hold on, let me recount the bad residues. From the table: r = 2 (sum 7/6), r = 7 (sum 13/12), r = 11 (sum 17/12). Any others? r = 5 gave 11/12, fine. So exactly 3 bad, 9 good per block.

So 8 · 9 = 72 and then 97 → r = 1 good, 98 → r = 2 bad, 99 → r = 3 good, 100 → r = 4 good. That's 3 good.

Total 72 + 3 = 75?

Wait, but 100/12 is 8.33, so 8 blocks cover 1..96. Yes. So 75.

Hmm, hold on. Let me verify directly for a few values. n = 2: floor(2/3) + floor(2/4) = 0 + 0 = 0, floor(14/12) = 1. Not equal, bad, consistent. n = 7: floor(7/3) + floor(7/4) = 2 + 1 = 3, floor(49/12) = 4. Bad, consistent. n = 12: 4 + 3 = 7 and floor(84/12) = 7. Good.

So the count of bad n up to 96 is 8 · 3 = 24, plus n = 98, total bad 25, and 100 - 25 = 75.

Wait, I want to re-read the problem. It says n ≤ 100, positive. Yes. So the answer should be 75.

Hmm, but let me reconsider whether r = 0 really is good: n = 12k, floor(4k) + floor(3k) = 7k = floor(7k). Yes.

Actually, wait. I made an arithmetic slip in the table for r = 3: {3/3} = 0 and {3/4} = 3/4, sum 3/4. Fine. And r = 9: {9/3} = 0, {9/4} = 1/4. Fine. And r = 6: {6/3} = 0, {6/4} = 1/2. Fine.

Let me recount the good residues in one block: 0, 1, 3, 4, 5, 6, 8, 9, 10. That's 9. So 75.

Let me just recompute the total once more in a cleaner way. Bad n are those with n ≡ 2, 7, or 11 (mod 12). Up to 100:
- n ≡ 2: 2, 14, ..., 98 → (98 - 2)/12 + 1 = 9 values.
- n ≡ 7: 7, 19, ..., 91 → (91 - 7)/12 + 1 = 8 values.
- n ≡ 11: 11, 23, ..., 95 → (95 - 11)/12 + 1 = 8 values.

Total bad = 9 + 8 + 8 = 25. Good = 100 - 25 = 75.

So the answer is 75.""",
    "response": r"""Since $\frac{n}{3} + \frac{n}{4} = \frac{7n}{12}$, the equation holds exactly when the fractional parts satisfy
$$\left\{\tfrac{n}{3}\right\} + \left\{\tfrac{n}{4}\right\} < 1.$$
This depends only on $n \bmod 12$, and fails exactly for $n \equiv 2, 7, 11 \pmod{12}$.

Up to $100$ there are $9 + 8 + 8 = 25$ such $n$, so the count is $100 - 25 = 75$.

**Final Answer:** $\boxed{75}$""",
}
SEQUENCE = {
    "id": "alg-1",
    "problem": "The first term of an arithmetic sequence is 7 and the tenth term is 43. A geometric sequence has the same first term and its fourth term equals the arithmetic sequence's fourth term. What is the common ratio of the geometric sequence?",
    "answer": r"\sqrt[3]{\frac{19}{7}}",
    "reasoning": r"""Alright, let me parse this carefully.

## Step 1: The arithmetic sequence

The first term is $a_1 = 7$ and the tenth term is $a_{10} = 43$. With common difference $d$:

\[
a_{10} = a_1 + 9d \implies 43 = 7 + 9d \implies d = 4.
\]

So the terms are 7, 11, 15, 19, ...

Step 2:

The fourth term is

\[
a_4 = 7 + 3 \cdot 4 = 19.
\]

## Step 3: The geometric sequence

It has first term $g_1 = 7$ and fourth term $g_4 = 7r^3$. Setting $g_4 = a_4$:

\[
7r^3 = 19.
\]

So

\[
r^3 = \frac{19}{7}.
\]

Wait, is that the whole thing? The problem only asks for the common ratio, so

\[
r = \sqrt[3]{\frac{19}{7}}.
\]

Hmm, that's not a nice number. Let me re-read the problem. "A geometric sequence has the same first term and its fourth term equals the arithmetic sequence's fourth term." Yes, first term 7, fourth term 19.

Let me double check d. From 7 to 43 in nine steps: 43 - 7 = 36, and 36 / 9 = 4. So d = 4.

Step 4: Check.

- $a_1 = 7$
- $a_4 = 19$
- $a_{10} = 7 + 36 = 43$ ✓.

And the geometric sequence: $7, 7r, 7r^2, 7r^3$ with $7r^3 = 19$ ✓.

Wait, could $r$ be negative or complex? A real cube root is unique, and the problem doesn't mention complex ratios, so $r = \sqrt[3]{19/7} \approx 1.395$.

Let me verify numerically: $1.395^3 \approx 2.714$, and $19/7 \approx 2.714$. ✓

So the common ratio is $\sqrt[3]{\frac{19}{7}}$.""",
    "response": r"""**Arithmetic sequence.** $43 = 7 + 9d$ gives $d = 4$, so $a_4 = 7 + 3 \cdot 4 = 19$.

**Geometric sequence.** $7r^3 = 19$, so

$$r = \sqrt[3]{\frac{19}{7}}.$$

The common ratio is $\boxed{\sqrt[3]{\frac{19}{7}}}$.""",
}

COUNTING = {
    "id": "comb-1",
    "problem": "How many ways are there to put 5 distinguishable balls into 3 indistinguishable boxes so that no box is empty?",
    "answer": "25",
    "reasoning": r"""Okay, so the problem is about distributing 5 distinguishable balls into 3 indistinguishable boxes with no box empty. That's exactly the Stirling number of the second kind, S(5, 3).

Let me recall the recurrence:

\[
S(n, k) = k \, S(n-1, k) + S(n-1, k-1).
\]

I'll build a small table.

| n \ k | 1 | 2 | 3 |
|---|---|---|---|
| 1 | 1 | 0 | 0 |
| 2 | 1 | 1 | 0 |
| 3 | 1 | 3 | 1 |
| 4 | 1 | 7 | 6 |
| 5 | 1 | 15 | 25 |

So S(5, 3) = 25.

Wait, let me verify S(4, 3) = 6: that's 3 · S(3, 3) + S(3, 2) = 3 · 1 + 3 = 6. ✓

And S(5, 3) = 3 · S(4, 3) + S(4, 2) = 3 · 6 + 7 = 25. ✓

Let me double-check by counting partitions by their block sizes. The blocks of a partition of 5 elements into 3 nonempty blocks have sizes either 3+1+1 or 2+2+1.

### Case 1: sizes 3, 1, 1

Choose the block of 3: $\binom{5}{3} = 10$ ways. The remaining two elements are singletons. So 10 partitions.

### Case 2: sizes 2, 2, 1

Choose the singleton: 5 ways. Split the remaining 4 into two pairs: $\frac{1}{2}\binom{4}{2} = 3$ ways. So 15 partitions.

---

Total: 10 + 15 = 25. ✓

Hmm, one more sanity check with inclusion-exclusion. The number of surjections from 5 balls onto 3 labeled boxes is

\[
3^5 - \binom{3}{1} 2^5 + \binom{3}{2} 1^5 = 243 - 96 + 3 = 150.
\]

Dividing by 3! = 6 for indistinguishable boxes: 150 / 6 = 25. ✓

All three methods agree: 25.""",
    "response": r"""This is the Stirling number of the second kind $S(5,3)$.

1. Block sizes $3+1+1$: $\binom{5}{3} = 10$ partitions.
2. Block sizes $2+2+1$: $5 \cdot 3 = 15$ partitions.

Total $10 + 15 = 25$ (and $\frac{3^5 - 3 \cdot 2^5 + 3}{3!} = \frac{150}{6} = 25$ confirms it).

**Final Answer**

$\boxed{25}$""",
}

WORD = {
    "id": "word-1",
    "problem": "Maya reads 18 pages of her novel on Monday. On Tuesday she reads twice as many pages as on Monday, and on Wednesday she reads 7 fewer pages than on Tuesday. If the novel has 150 pages, how many pages does she still have to read after Wednesday?",
    "answer": "67",
    "reasoning": """Okay, let's break this down day by day.

Monday: 18 pages.

Tuesday: twice as many as Monday, so 2 × 18 = 36 pages.

Wednesday: 7 fewer than Tuesday, so 36 − 7 = 29 pages.

Total read so far: 18 + 36 + 29. Let me add: 18 + 36 = 54, and 54 + 29 = 83.

So she has read 83 pages. The novel has 150 pages, so the remaining pages are 150 − 83 = 67.

Wait, let me double-check each step.

Monday: 18. Tuesday: 36. Wednesday: 29.

18 + 36 + 29 = 83. Yes.

150 − 83 = 67. Yes.

Hmm, is "7 fewer pages than on Tuesday" definitely 36 − 7? Yes, Tuesday was 36 pages, so Wednesday is 29.

So the answer is 67 pages.""",
    "response": r"""- Monday: $18$ pages
- Tuesday: $2 \times 18 = 36$ pages
- Wednesday: $36 - 7 = 29$ pages

She has read $18 + 36 + 29 = 83$ pages, so $150 - 83 = \boxed{67}$ pages remain.""",
}

CHINESE = {
    "id": "zh-1",
    "problem": "已知等差数列 $\\{a_n\\}$ 的首项为 $3$，公差为 $2$，求前 $10$ 项的和 $S_{10}$。",
    "answer": "120",
    "reasoning": r"""好的，我需要求等差数列的前 10 项和。

首项 $a_1 = 3$，公差 $d = 2$。等差数列前 n 项和的公式是

\[
S_n = \frac{n}{2}\left(2a_1 + (n-1)d\right).
\]

代入 n = 10：

\[
S_{10} = \frac{10}{2}\left(2 \times 3 + 9 \times 2\right) = 5 \times (6 + 18) = 5 \times 24 = 120.
\]

等等，让我再检查一下。第 10 项是 $a_{10} = a_1 + 9d = 3 + 18 = 21$，所以也可以用 $S_{10} = \frac{10(a_1 + a_{10})}{2} = 5 \times 24 = 120$。

两种方法结果一致，设 x 为所求的和，则 x = 120。所以答案是 120。""",
    "response": r"""由 $a_{10} = 3 + 9 \times 2 = 21$，得
$$S_{10} = \frac{10 \times (3 + 21)}{2} = 120.$$

**答案**：$\boxed{120}$""",
}

SYMBOLS = {
    "id": "trig-1",
    "problem": "Möbius draws an angle θ with 0 < θ < π/2 such that sin θ = 3/5. What is cos 2θ?",
    "answer": r"\frac{7}{25}",
    "reasoning": r"""Okay — we know sin θ = 3/5 with θ in the first quadrant, so cos θ > 0.

Using the double-angle identity, cos 2θ = 1 − 2 sin²θ. So:

cos 2θ = 1 − 2 · (9/25) = 1 − 18/25 = 7/25.

Let me double-check with the other form: cos θ = √(1 − 9/25) = √(16/25) = 4/5, and cos 2θ = cos²θ − sin²θ = 16/25 − 9/25 = 7/25. ✓

Both agree. (The name “Möbius” is just flavour; it doesn't matter.) Since 0 < θ < π/2, 2θ is between 0 and π, and 7/25 > 0 means 2θ < π/2 — consistent with sin θ = 0.6 < sin 45° ≈ 0.707.

So cos 2θ = 7/25.""",
    "response": r"""$\cos 2\theta = 1 - 2\sin^2\theta = 1 - 2 \cdot \frac{9}{25} = \boxed{\frac{7}{25}}$""",
}

CLEAN = [GEOMETRY, FLOOR, SEQUENCE, COUNTING, WORD, CHINESE, SYMBOLS]


def row(t: dict, sample: int = 0, **changes) -> dict:
    """A filter row for trace `t` (what `filters.pipeline.rows.view_rows` builds from a shard)."""
    r = {"problem_id": t["id"], "sample": sample, "problem": t["problem"], "answer": t["answer"],
         "reasoning": t["reasoning"], "response": t["response"], "finish_reason": "stop", "domain": "math",
         "tests": None}
    r.update(changes)
    r["completion"] = changes.get("completion") or f"<think>\n{r['reasoning']}\n</think>\n\n{r['response']}"
    return r


def _middle(text: str) -> int:
    """A paragraph break near the middle of `text`."""
    i = text.find("\n\n", len(text) // 2)
    return i if i > 0 else len(text)


FLAWS = {
    # flaw: (expected filter, expected reason)
    "wrong_answer": ("correctness", "wrong_answer"),
    "drift_connective": ("language", "mixed_language"),
    "drift_sentence": ("language", "mixed_language"),
    "loop_sentence": ("readability", "repeated_lines"),
    "loop_block": ("readability", "repeated_lines"),
    "loop_to_context": ("format", "truncated"),
    "code_block": ("readability", "code_in_reasoning"),
    "corrupt_escape": ("readability", "control_chars"),
    "no_box": ("correctness", "no_answer"),
}


def flawed(t: dict, flaw: str) -> dict:
    """The row of `t` with one flaw, as real teachers produce it."""
    t = copy.deepcopy(t)
    reasoning, response = t["reasoning"], t["response"]
    m = _middle(reasoning)
    if flaw == "wrong_answer":
        return row(t, response=response.replace(r"\boxed{", r"\boxed{1+"))
    if flaw == "drift_connective":  # two characters, mid-sentence: the demo's "所以 x = 30."
        target = "所以" if t["id"] != "zh-1" else "So"
        return row(t, reasoning=reasoning[:m] + f"\n\n{target} the value above is right." + reasoning[m:])
    if flaw == "drift_sentence":
        text = "我们再检查一下这个结果是否正确。" if t["id"] != "zh-1" else "Let me double check this result once more."
        return row(t, reasoning=reasoning[:m] + "\n\n" + text + reasoning[m:])
    if flaw == "loop_sentence":
        line = "Wait, let me check that step again."
        return row(t, reasoning=reasoning[:m] + ("\n\n" + line) * 4 + reasoning[m:])
    if flaw == "loop_block":
        block = "\n\nHmm, so the total should be what I found.\nBut let me recompute it from the start to be sure."
        return row(t, reasoning=reasoning[:m] + block * 5 + reasoning[m:])
    if flaw == "loop_to_context":
        loop = "\n\nWait, let me recompute the previous step once more." * 200
        return row(t, reasoning=reasoning + loop, response=None, finish_reason="length",
                   completion=f"<think>\n{reasoning}{loop}")
    if flaw == "code_block":
        return row(t, reasoning=reasoning[:m] + "\n\nLet me verify with code:\n```python\nprint(12 * 5)\n```\n"
                   + reasoning[m:])
    if flaw == "corrupt_escape":  # "\frac" through a JSON writer that forgot to escape: a form feed
        i = reasoning.find("\\")
        return row(t, reasoning=reasoning[:i] + "\x0c" + reasoning[i + 2:] if i >= 0 else reasoning + "\x0crac")
    if flaw == "no_box":
        end = "这就是结果。" if t["id"] == "zh-1" else "That is the result."
        return row(t, response=response.split("\\boxed")[0] + end)
    raise ValueError(flaw)
