"""Reasoning traces in Chinese, Japanese and Russian, and English traces that drift: test data
for the language filter (`test_language_real.py`).

Each trace says where it comes from (`source`) and what it is (`kind`):
- "real": a model's own output, copied as published (trimmed, wording kept), from the public
  repository file or page named in `source`;
- "derived": a real trace with one marked change (`change`), to put a shape the real one lacks
  next to its real wording (an English header where R1 distills write one, a drift);
- "written": written here in the R1 style, because no real trace of that language with that
  shape could be found in the public repositories searched (see the note above each).
`expect` is what `LanguageFilter` must say: None (kept) or "mixed_language".

Only trace text is copied from those sources (as test data); no code.
"""

from __future__ import annotations

# --- real: Chinese problems answered in Chinese -------------------------------------------------

# DeepSeek-R1-Distill-Qwen-1.5B (W8A8 on an RK3588), "example 1" of
# github.com/airockchip/rknn-llm, examples/DeepSeek-R1-Distill-Qwen-1.5B_Demo/Readme.md
ZH_CHICKENS = {
    "id": "zh-real-chickens", "kind": "real", "expect": None,
    "source": "airockchip/rknn-llm: examples/DeepSeek-R1-Distill-Qwen-1.5B_Demo/Readme.md (example 1)",
    "problem": "现有一笼子，里面有鸡和兔子若干只，数一数，共有头14个，腿38条，求鸡和兔子各有多少只？",
    "reasoning": """首先，设鸡的数量为x，兔子的数量为y。

根据题目中的条件，我们知道：

1. 鸡和兔子的总数是14，因此有方程：
   x + y = 14

2. 鸡有两条腿，兔子有四条腿，总腿数是38，所以有另一个方程：
   2x + 4y = 38

接下来，通过代入法或消元法来解这两个方程。假设我们用代入法：

从第一个方程中，可以得到：
x = 14 - y

将这个表达式代入第二个方程：
2(14 - y) + 4y = 38
展开计算后得到：
28 - 2y + 4y = 38
合并同类项：
2y = 10
解得：
y = 5

然后，将y的值代入x = 14 - y中：
x = 14 - 5 = 9

因此，鸡有9只，兔子有5只。""",
    "response": r"""要解决这个问题，我们可以设鸡的数量为 \( x \)，兔子的数量为 \( y \)。根据题目给出的条件：

1. **头的总数**：每只鸡和兔子都有一个头，所以：
   \[
   x + y = 14
   \]

2. **腿的总数**：鸡有两条腿，兔子有四条腿，总腿数为38条，因此：
   \[
   2x + 4y = 38
   \]

接下来，我们可以通过解这两个方程来找到 \( x \) 和 \( y \) 的值。

**步骤一：简化第二个方程**

将第二个方程两边同时除以2：
\[
x + 2y = 19
\]

**步骤二：消元法**

用第二个方程减去第一个方程：
\[
(x + 2y) - (x + y) = 19 - 14 \\
y = 5
\]

**步骤三：代入求 \( x \)**

将 \( y = 5 \) 代入第一个方程：
\[
x + 5 = 14 \\
x = 14 - 5 \\
x = 9
\]

因此，鸡的数量是 **9只**，兔子的数量是 **5只**。

**最终答案：**
鸡有 \(\boxed{9}\) 只，兔子有 \(\boxed{5}\) 只。""",
}

# Same model and file, "example 2".
ZH_ROW_OF_KIDS = {
    "id": "zh-real-row", "kind": "real", "expect": None,
    "source": "airockchip/rknn-llm: examples/DeepSeek-R1-Distill-Qwen-1.5B_Demo/Readme.md (example 2)",
    "problem": "有28位小朋友排成一行,从左边开始数第10位是学豆,从右边开始数他是第几位?",
    "reasoning": """首先，总共有28位小朋友。

从左边开始数，第10位是学豆的位置。

因此，从右边开始数，学豆的位置是从右边数的第(28 - 10 + 1) = 第19位。""",
    "response": r"""**解答：**

我们有28位小朋友排成一行。题目要求确定从右边开始数时，第10位是学豆的位置。

**步骤如下：**

1. **总人数**：共有28位小朋友。
2. **左边数的顺序**：从左边开始数，第10位是学豆。
3. **右边数的计算**：
   - 从右边数时，第1位对应左边数的第28位。
   - 因此，第n位在左边对应的是第(28 - n + 1)位在右边。

4. **具体计算**：
   \[
   第10位在左边 = 第(28 - 10 + 1) = 第19位在右边
   \]

**最终答案：**

\boxed{19}""",
}

# DeepSeek-R1-Distill-Qwen-7B under vLLM, the completions example of
# github.com/datawhalechina/self-llm, models/DeepSeek-R1-Distill-Qwen/04-DeepSeek-R1-Distill-Qwen-7B vLLM 部署调用.md
ZH_FACTORIAL = {
    "id": "zh-real-factorial", "kind": "real", "expect": None,
    "source": "datawhalechina/self-llm: models/DeepSeek-R1-Distill-Qwen/"
              "04-DeepSeek-R1-Distill-Qwen-7B vLLM 部署调用.md (OpenAI Completions API example)",
    "problem": "我想问你，5的阶乘是多少？",
    "reasoning": """首先，5的阶乘是指从1乘到5的乘积。

计算步骤如下：

1. 5 × 4 = 20
2. 20 × 3 = 60
3. 60 × 2 = 120
4. 120 × 1 = 120

因此，5的阶乘等于120。""",
    "response": r"""**解答：**

5的阶乘（写作 \(5!\)) 表示从1乘到5的乘积。计算如下：

\[
5! = 5 \times 4 \times 3 \times 2 \times 1 = 120
\]

**最终答案：**

\[
\boxed{120}
\]""",
}

# Hunyuan-A13B-Instruct, the fast-think training example of github.com/Tencent-Hunyuan/Hunyuan-A13B,
# README_CN.md ("训练数据格式及处理"): a Chinese answer wrapped in the model's English `<answer>` markup.
# Not maths, but the one real Chinese output found whose only Latin is markup.
ZH_ANSWER_TAGS = {
    "id": "zh-real-answer-tags", "kind": "real", "expect": None,
    "source": "Tencent-Hunyuan/Hunyuan-A13B: README_CN.md (fast think pattern)",
    "problem": "/no_think海水为什么是咸的",
    "reasoning": "",
    "response": """<answer>
海水是咸的主要是因为其中含有许多溶解在水中的盐类和矿物质。这些盐类和矿物质来自于地球表面的岩石和土壤中的化学物质，随着时间的推移，它们被带到了海洋中。当海水蒸发时，水分蒸发掉了，但盐类和矿物质仍然留在水中，导致海水变得更加咸味。因此，海水的咸度是由其中的盐类和矿物质的含量决定的。
</answer>""",
}

# --- real: Japanese -----------------------------------------------------------------------------

# DeepSeek-R1's answer (its reply, the thinking is not published) to problem 1 of the 2016 Japanese
# Mathematical Olympiad preliminary, as quoted in https://zenn.dev/mutex_inc/articles/gpt-deepseek
# ("DeepSeek(R1)の回答"; a web page, not a repository: no Japanese reasoning trace on a maths problem
# was found in the repositories searched). The page renders the maths with KaTeX: the `$$…$$`
# delimiters are put back here; trimmed where the quoted excerpt breaks off, so no response.
JA_OLYMPIAD = {
    "id": "ja-real-olympiad", "kind": "real", "expect": None,
    "source": "https://zenn.dev/mutex_inc/articles/gpt-deepseek (DeepSeek(R1)の回答, 第1問)",
    "problem": "次の式を計算し、値を整数で答えよ。\n\n$$\\sqrt{\\frac{11^4 + 100^4 + 111^4}{2}}$$",
    "reasoning": r"""$$\sqrt{\frac{11^4 + 100^4 + 111^4}{2}}$$
$$111^4 = (100 + 11)^4 = 100^4 + 4 \cdot 100^3 \cdot 11 + 6 \cdot 100^2 \cdot 11^2 + 4 \cdot 100 \cdot 11^3 + 11^4.$$

分子の式 $11^4 + 100^4 + 111^4$ に代入すると:""",
    "response": "",
}

# --- real: English problems whose reasoning drifts into Chinese -----------------------------------

# A Qwen model in GRPO training on GSM8K (English problems), logged samples of
# github.com/Yeok-c/grpo-gsm8k-demo, reasoning_trace.md: the whole reasoning slides into Chinese.
EN_BULBS_IN_CHINESE = {
    "id": "en-real-bulbs", "kind": "real", "expect": "mixed_language",
    "source": "Yeok-c/grpo-gsm8k-demo: reasoning_trace.md (the flower-bulb sample)",
    "problem": "Jane's mother agreed to pay her $.50 for every flower bulb that Jane planted.  Jane planted 20 tulip "
               "bulbs and half that amount of iris bulbs.  She also planted 30 daffodil bulbs and three times that "
               "amount of crocus bulbs.  How much money did Jane earn?",
    "reasoning": """首先，计算Jane为每个类型的 bulb支付的费用。
Jane 秤了 20 桃花 bulb。
她 秤了 10 个 蓝花 bulb（half of 20）。
她 秤了 30 桃花 bulb。

然后，计算总 bulb数：
20 + 10 + 30 + 90 = 150

每个 bulb 给钱 .50，所以总金额是 150 * 0.50 = $75。""",
    "response": "<answer>75</answer>",
}

# Same file: English reasoning, then a Chinese header and Chinese text in the answer. A Chinese
# `**解答：**` in English reasoning is the drift itself, not structure.
EN_SCARVES_CHINESE_ANSWER = {
    "id": "en-real-scarves", "kind": "real", "expect": "mixed_language",
    "source": "Yeok-c/grpo-gsm8k-demo: reasoning_trace.md (the swag-bag sample; the answer trimmed to its first line)",
    "problem": "This year the Oscar swag bags include two diamond earrings that cost $6,000 each, a new iPhone that "
               "costs $2,000, and some designer scarves that each cost $1,500. If the total value of the swag bag "
               "is $20,000, how many scarves are there?",
    "reasoning": """Okay, let's break down the problem step by step. We have a total swag bag value of $20,000. The items included are two diamond earrings each costing $6,000, a new iPhone costing $2,000, and several designer scarves each priced at $1,500. We need to find out how many scarves are in the swag bag.

First, calculate the total value of the known items: two earrings at $6,000 each is 2 * $6,000 = $12,000. Adding the iPhone costs $2,000 to this gives us $12,000 + $2,000 = $14,000.

Subtracting this from the total swag bag value: $20,000 - $14,000 = $6,000 left for the scarves. Since each scarf is $1,500, divide $6,000 by $1,500 to get the number of scarves: 6,000 / 1,500 = 4.

Therefore, there are 4 scarves.""",
    "response": "**解答：**\n\n目前的系统信息未能明确接近某个走向",
}

# Same file: an English trace that stays English (kept), then the same trace with the drift shape
# the filter exists for, one Chinese connective, inserted (derived).
EN_TICKETS = {
    "id": "en-real-tickets", "kind": "real", "expect": None,
    "source": "Yeok-c/grpo-gsm8k-demo: reasoning_trace.md (the ball-game sample)",
    "problem": "Ten adults went to a ball game with eleven children. Adult tickets are $8 each and the total bill "
               "was $124. How many dollars is one child's ticket?",
    "reasoning": """Alright, let's solve this problem step by step. There are ten adults and eleven children who bought tickets to a ball game. Adults tickets are $8 each, and the total bill was $124. We need to find the price of a child's ticket.

First, calculate the total cost for the adults: 10 adults * $8 = $80.

Next, subtract the adult total from the overall bill to find the child's total cost: $124 - $80 = $44.

There are eleven children, so the price per child ticket is $44 divided by 11, which equals $4.

Therefore, the price of one child's ticket is $4.""",
    "response": "<answer>4</answer>",
}
EN_TICKETS_DRIFT = {
    **EN_TICKETS, "id": "en-derived-tickets-drift", "kind": "derived", "expect": "mixed_language",
    "change": "'Therefore' replaced by the Chinese connective '所以'",
    "reasoning": EN_TICKETS["reasoning"].replace("Therefore, the price", "所以 the price"),
}

# --- real: Chinese reasoning with English prose in it ---------------------------------------------

# DeepSeek-R1-Distill-Qwen-7B, the chat example of the same self-llm file ("什么是深度学习？"):
# not maths, but a real Chinese reasoning with English prose words ("Architectual evolution").
# (CNN), (RNN), (LSTM) are capitals: labels, not words.
ZH_DEEP_LEARNING_DRIFT = {
    "id": "zh-real-english-words", "kind": "real", "expect": "mixed_language",
    "source": "datawhalechina/self-llm: models/DeepSeek-R1-Distill-Qwen/"
              "04-DeepSeek-R1-Distill-Qwen-7B vLLM 部署调用.md (chat completions example, trimmed)",
    "problem": "什么是深度学习？",
    "reasoning": """深度学习是一种通过多层神经网络来解决复杂问题的技术。它不仅利用传统机器学习的方法，还引入了大量计算机科学和神经科学的知识。深度学习算法利用大量数据来进行学习，能够自动提取复杂的特征或解决非线性问题。

深度学习经历了从基层到高层的 Architectual evolution。从基本的单层感知机到复杂的高级模型，如卷积神经网络（CNN）、循环神经网络（RNN）、长短期记忆网络（LSTM）、这些结构如何帮助模型更好地理解和处理数据，是深度学习中非常重要的环节。""",
    "response": "深度学习是基于神经网络通过多层的递归结构来解决复杂问题的技术。",
}

# Same file, the chat-completions reply to the factorial question: a parenthesised English gloss of
# a term. Neither structure nor a language switch in intent, but English prose by this rule; kept
# here so the behaviour is visible (see the report that came with this file).
ZH_FACTORIAL_GLOSS = {
    "id": "zh-real-gloss", "kind": "real", "expect": "mixed_language",
    "source": "datawhalechina/self-llm: models/DeepSeek-R1-Distill-Qwen/"
              "04-DeepSeek-R1-Distill-Qwen-7B vLLM 部署调用.md (chat completions example)",
    "problem": "我想问你，5的阶乘是多少？",
    "reasoning": "",
    "response": "5的阶乘（factorial）是计算在5的前面接数的连乘积。具体计算如下：\n\n5! = 5 × 4 × 3 × 2 × 1 = 120",
}

# --- derived: the real Chinese traces with the English scaffolding R1 distills write ---------------

ZH_CHICKENS_FINAL_ANSWER = {
    **ZH_CHICKENS, "id": "zh-derived-final-answer", "kind": "derived", "expect": None,
    "change": "the response's Chinese headers (**步骤一：…**, **最终答案：**) replaced by the English ones "
              "R1 distills write (### Step 1: …, **Final Answer**)",
    "response": ZH_CHICKENS["response"]
    .replace("**步骤一：简化第二个方程**", "### Step 1: 简化第二个方程")
    .replace("**步骤二：消元法**", "### Step 2: 消元法")
    .replace("**步骤三：代入求 \\( x \\)**", "### Step 3: 代入求 \\( x \\)")
    .replace("**最终答案：**", "**Final Answer**"),
}
ZH_CHICKENS_FINAL_ANSWER_DRIFT = {
    **ZH_CHICKENS_FINAL_ANSWER, "id": "zh-derived-final-answer-drift", "expect": "mixed_language",
    "change": ZH_CHICKENS_FINAL_ANSWER["change"] + "; and an English sentence inserted into the reasoning",
    "reasoning": ZH_CHICKENS["reasoning"].replace(
        "因此，鸡有9只", "Now in English we double check every single step of this computation.\n\n因此，鸡有9只"),
}

# --- written: R1-style traces with English scaffolding ---------------------------------------------
# Written here: no real Chinese/Japanese/Russian maths trace with English headers ("**Final Answer**",
# "### Step 1", "Answer:") was found in the public repositories searched (DeepSeek-R1 distill demos,
# dataset READMEs, eval logs, test fixtures), nor any Russian maths trace at all. They follow the
# shapes R1 and its distills produce: a `<think>` monologue, then a markdown answer.

ZH_WRITTEN = {
    "id": "zh-written-headers", "kind": "written", "expect": None, "source": "written (R1 style)",
    "problem": "已知等比数列 $\\{a_n\\}$ 中，$a_1 = 2$，公比 $q = 3$，求前 $4$ 项的和 $S_4$。",
    "reasoning": r"""嗯，我现在要解决这个问题：等比数列的首项是2，公比是3，求前4项的和。

首先，等比数列前n项和的公式是 $S_n = \frac{a_1(q^n - 1)}{q - 1}$，这里 $q = 3 \neq 1$，可以直接用。

代入：$S_4 = \frac{2(3^4 - 1)}{3 - 1} = \frac{2 \times 80}{2} = 80$。

等等，让我再逐项验证一下：2, 6, 18, 54，加起来是 2 + 6 = 8，8 + 18 = 26，26 + 54 = 80。对的。

**Final Answer**
\boxed{80}""",
    "response": r"""### Step 1: 写出公式
等比数列前 $n$ 项和：$S_n = \dfrac{a_1(q^n-1)}{q-1}$。

### Step 2: 代入计算
$S_4 = \dfrac{2(3^4-1)}{3-1} = 80$。

**Answer:** $\boxed{80}$""",
}

JA_WRITTEN = {
    "id": "ja-written-headers", "kind": "written", "expect": None, "source": "written (R1 style)",
    "problem": "1から100までの整数のうち、3の倍数または5の倍数であるものはいくつありますか。",
    "reasoning": r"""まず、3の倍数の個数を数えます。100を3で割ると33余り1なので、33個です。

次に、5の倍数は100 ÷ 5 = 20で、20個です。

でも、15の倍数は両方に含まれているので、重複して数えています。100 ÷ 15 = 6余り10なので、6個です。

したがって、包除原理により 33 + 20 - 6 = 47 個です。

ちょっと待って、もう一度確認します。3の倍数33個、5の倍数20個、15の倍数6個。33 + 20 - 6 = 47。合っています。

**Final Answer**
\boxed{47}""",
    "response": r"""**Step 1:** 3の倍数は $\lfloor 100/3 \rfloor = 33$ 個。

**Step 2:** 5の倍数は $\lfloor 100/5 \rfloor = 20$ 個、15の倍数は $\lfloor 100/15 \rfloor = 6$ 個。

**Step 3:** 包除原理より $33 + 20 - 6 = 47$。

Answer: $\boxed{47}$""",
}

RU_WRITTEN = {
    "id": "ru-written-headers", "kind": "written", "expect": None, "source": "written (R1 style)",
    "problem": "Решите уравнение $x^2 - 5x + 6 = 0$ и найдите сумму его корней.",
    "reasoning": r"""Хорошо, мне нужно решить квадратное уравнение $x^2 - 5x + 6 = 0$.

Сначала найду дискриминант: $D = 25 - 24 = 1$. Он положительный, значит, корней два.

Корни: $x_1 = \frac{5 + 1}{2} = 3$, $x_2 = \frac{5 - 1}{2} = 2$.

Подожди, проверю по теореме Виета: сумма корней должна быть равна 5, а произведение — 6. Действительно, 3 + 2 = 5 и 3 · 2 = 6. Всё сходится.

**Final Answer**
\boxed{5}""",
    "response": r"""### Step 1: Дискриминант
$D = (-5)^2 - 4 \cdot 6 = 1$.

### Step 2: Корни
$x_1 = 3$, $x_2 = 2$.

### Step 3: Сумма корней
$x_1 + x_2 = 5$.

**Answer:** $\boxed{5}$""",
}

RU_WRITTEN_DRIFT = {
    **RU_WRITTEN, "id": "ru-written-drift", "expect": "mixed_language", "source": "written (R1 style)",
    "change": "an English sentence in the Russian reasoning",
    "reasoning": RU_WRITTEN["reasoning"].replace(
        "Всё сходится.", "Всё сходится. Wait, let me double-check the discriminant once more."),
}

# --- real: English reasoning with English headers (a Latin prompt is judged as before) -------------

# DeepSeek-R1 (model field "deepseek-ai/DeepSeek-R1"), the final answer of a Light-R1 SFT row, as shown
# by the dataset viewer of mveroe/Light-R1-SFTData-Extended_split6 (a Hugging Face dataset repository;
# https://huggingface.co/datasets/mveroe/Light-R1-SFTData-Extended_split6), trimmed.
EN_HEADERS = {
    "id": "en-real-headers", "kind": "real", "expect": None,
    "source": "huggingface.co/datasets/mveroe/Light-R1-SFTData-Extended_split6 (viewer, train p=66: the square ABCD row)",
    "problem": "Square $A B C D$ has sides of length 2. The midpoint of $B C$ is $E$. Point $F$ is on $A E$ so that "
               "$D F$ is perpendicular to $A E$. Determine the length of $D F$.",
    "reasoning": r"""Square \(ABCD\) has sides of length 2. The midpoint of \(BC\) is \(E\). Point \(F\) is on \(AE\) such that \(DF\) is perpendicular to \(AE\). We need to determine the length of \(DF\).

1. **Coordinates Setup**:
 - Place point \(A\) at the origin \((0,0)\).
 - Points \(B\), \(C\), and \(D\) are at \((2,0)\), \((2,2)\), and \((0,2)\) respectively.
 - Midpoint \(E\) of \(BC\) is \((2,1)\).

2. **Equations of Lines**:
 - Line \(AE\) passes through \(A(0,0)\) and \(E(2,1)\). The slope is \(\frac{1}{2}\), so the equation is \(y = \frac{1}{2}x\).
 - Line \(DF\) is perpendicular to \(AE\) and passes through \(D(0,2)\). The slope is \(-2\), so the equation is \(y = -2x + 2\).

3. **Intersection Point \(F\)**:
 - Solve \(\frac{1}{2}x = -2x + 2\):
 \[
 \frac{1}{2}x = -2x + 2 \implies x + 4x = 4 \implies 5x = 4 \implies x = \frac{4}{5}
 \]""",
    "response": r"The length of \(DF\) is \(\boxed{\dfrac{4\sqrt{5}}{5}}\).",
}

REAL = [ZH_CHICKENS, ZH_ROW_OF_KIDS, ZH_FACTORIAL, ZH_ANSWER_TAGS, JA_OLYMPIAD, EN_BULBS_IN_CHINESE,
        EN_SCARVES_CHINESE_ANSWER, EN_TICKETS, ZH_DEEP_LEARNING_DRIFT, ZH_FACTORIAL_GLOSS, EN_HEADERS]
DERIVED = [EN_TICKETS_DRIFT, ZH_CHICKENS_FINAL_ANSWER, ZH_CHICKENS_FINAL_ANSWER_DRIFT]
WRITTEN = [ZH_WRITTEN, JA_WRITTEN, RU_WRITTEN, RU_WRITTEN_DRIFT]
ALL = REAL + DERIVED + WRITTEN


def row(t: dict) -> dict:
    """A filter row for trace `t` (the fields `LanguageFilter` reads, and the rest a chain row has)."""
    return {"problem_id": t["id"], "sample": 0, "problem": t["problem"], "answer": None,
            "reasoning": t["reasoning"], "response": t["response"], "finish_reason": "stop", "domain": "math",
            "completion": f"<think>\n{t['reasoning']}\n</think>\n\n{t['response']}"}
