"""The Flex Template's program (FLEX_TEMPLATE_PYTHON_PY_FILE): submits the build and exits.

Dataflow's launcher runs it with the template's parameters as ``--name=value`` (``archive``, ``output``,
``pipeline``, ``origin``, ...; see metadata.json) and the job's own options (``--project``, ``--region``,
``--temp_location``, ``--sdk_container_image``, ...). ``stack_v2.dataflow.flex_main`` turns the former
into ``stack-v2 build`` options and passes the rest to Beam.
"""

import sys

from stack_v2.dataflow import flex_main

if __name__ == "__main__":
    sys.exit(flex_main(sys.argv[1:]))
