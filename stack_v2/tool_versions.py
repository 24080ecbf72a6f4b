"""The versions of the tools a build ran with, and the recipe stages it left out, for report.json and the card.

Pure: reads installed distributions' metadata and the recipe, runs nothing. go-enry's own version is not
exposed by enry-python (the bindings ship a compiled go-enry without a version string), so only
enry-python's is given; ClamAV's signature database version is not read here (the malware stage would have
to open its ``database`` directory).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from stack_v2.stages.malware import MalwareConfig

# Distribution names, in the order the card lists them.
DISTRIBUTIONS = ("stack-v2", "apache-beam", "scancode-toolkit", "enry-python", "detect-secrets", "pyarrow",
                 "jupytext", "rensa")  # fmt: skip


def tool_versions() -> dict[str, str]:
    """Distribution name -> installed version; a tool that is not installed is left out."""
    found = {}
    for name in DISTRIBUTIONS:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def stages_off(recipe) -> dict[str, str]:
    """Stage name -> why the build left it out, for the recipe's stages the build does not run."""
    off = {}
    malware = recipe.stage("malware")
    if malware is not None:
        # The same test as the build's: without signatures or a clamd socket nothing is scanned.
        if not MalwareConfig.from_params(malware.params).enabled:
            off["malware"] = ("neither database (ClamAV signatures) nor socket (a clamd) is set: no file was "
                              "scanned for malware")  # fmt: skip
    return off
