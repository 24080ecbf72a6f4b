"""stack-v2: build code-pretraining datasets like The Stack v2 from the Software Heritage archive."""

__version__ = "0.1.0"
