"""The recipes, shipped in the package as stack_v2.pipelines (pyproject.toml maps this directory there).

A regular package, not a namespace one: setuptools' editable finder only maps regular packages to another
directory, and `pip install -e .` must read these files in place (stack_v2/resources.py).
"""
