"""Programs for the LiveCodeBench-shaped fixture (factory/data/benchmarks/livecodebench_sample.jsonl):
per problem a correct and a wrong one, and programs that time out or attack the sandbox. The fixture's
expected outputs were made by running the correct ones; tests/test_livecodebench.py checks they still
pass every test, and bench/evaluate_code.py times them."""

SOLUTIONS = {
    "fx001": {"correct": "n = int(input())\nprint(sum(map(int, input().split())))\n",
              "wrong": "n = int(input())\nprint(sum(map(int, input().split())) + (n > 3))\n"},
    "fx002": {"correct": "n = int(input())\na = list(map(int, input().split()))\nprint(f'{sum(a) / n:.6f}')\n",
              # integer division: right where the average is whole (1 equals 1.000000 as decimals), wrong elsewhere
              "wrong": "n = int(input())\na = list(map(int, input().split()))\nprint(sum(a) // n)\n"},
    "fx003": {"correct": "t = int(input())\nfor _ in range(t):\n    print(' '.join(w[::-1] for w in input().split()))\n",
              "wrong": "t = int(input())\nfor _ in range(t):\n    print(input()[::-1])\n"},
    "fx004": {"correct": ("class Solution:\n    def countPairs(self, nums: List[int], target: int) -> int:\n"
                          "        return sum(nums[i] + nums[j] < target for i in range(len(nums))"
                          " for j in range(i + 1, len(nums)))\n"),
              "wrong": ("class Solution:\n    def countPairs(self, nums: List[int], target: int) -> int:\n"
                        "        return sum(nums[i] + nums[j] <= target for i in range(len(nums))"
                        " for j in range(i + 1, len(nums)))\n")},
    "fx005": {"correct": ("class Solution:\n    def sortedSquares(self, nums: List[int]) -> List[int]:\n"
                          "        return sorted(x * x for x in nums)\n"),
              "wrong": ("class Solution:\n    def sortedSquares(self, nums: List[int]) -> List[int]:\n"
                        "        return [x * x for x in nums]\n")},
    "fx006": {"correct": ("class Solution:\n    def isBalanced(self, s: str) -> bool:\n        stack = []\n"
                          "        for c in s:\n            if c in '([':\n                stack.append(c)\n"
                          "            elif not stack or stack.pop() != {')': '(', ']': '['}[c]:\n"
                          "                return False\n        return not stack\n"),
              "wrong": ("class Solution:\n    def isBalanced(self, s: str) -> bool:\n"
                        "        return s.count('(') == s.count(')') and s.count('[') == s.count(']')\n")},
    "fx007": {"correct": "a, b = map(int, input().split())\nprint(a + b)\n",
              "wrong": "a, b = map(int, input().split())\nprint(a - b)\n"},
}

TIMEOUT = "while True:\n    pass\n"
# Tries to pass without solving: print what a driver might print and leave before it runs, then
# read a file outside its folder.
HOSTILE = ("import os, sys\nprint('true')\nprint('[0, 1, 9, 16, 100]')\nsys.stdout.flush()\n"
           "open('/etc/passwd').read()\nos._exit(0)\n")
