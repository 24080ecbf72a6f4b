"""stack-v2: build code-pretraining datasets like The Stack v2 from the Software Heritage archive."""

from stack_v2 import collector

__version__ = "0.1.0"

collector.tune()  # fewer cyclic-collector passes: stack_v2/collector.py
