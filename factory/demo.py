"""`make demo`: the miniature lab, R1 distillation end to end on a CPU (factory/lab/demo.py)."""

import sys

if __name__ == "__main__":
    from factory.lab.demo import main

    sys.exit(main())
