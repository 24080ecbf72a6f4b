"""The versions of the tools a build ran with, and the recipe stages it left out, for report.json and the card.

Reads installed distributions' metadata and the recipe. go-enry's own version is not exposed by
enry-python (the bindings ship a compiled go-enry without a version string), so only enry-python's is
given. When the recipe scans for malware, ClamAV's engine version (``--version`` of the binary the stage
runs, or a clamd's ``VERSION`` answer) and its signature database's (the containers' headers) are added:
a scan means little without the signatures it used.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from stack_v2.malware.clamav import ClamAVError, ClamdScanner, database_version, engine_version, find_binary
from stack_v2.stages import registry

# Distribution names, in the order the card lists them.
DISTRIBUTIONS = (
    "stack-v2",
    "apache-beam",
    "scancode-toolkit",
    "enry-python",
    "detect-secrets",
    "pyarrow",
    "jupytext",
    "rensa",
)


def tool_versions(recipe=None) -> dict[str, str]:
    """Distribution name -> installed version (a tool that is not installed is left out), and ClamAV's
    engine and signatures when ``recipe`` scans for malware."""
    found = {}
    for name in DISTRIBUTIONS:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    if recipe is not None:
        found.update(clamav_versions(recipe))
    return found


def clamav_versions(recipe) -> dict[str, str]:
    """``clamav`` (engine) and ``clamav-signatures`` for a recipe whose malware stage is on, else nothing.

    A database directory whose containers cannot be read is a ClamAVError (the stage could not trust it
    either); a clamd that does not answer the launcher is recorded as such (its workers may reach it)."""
    stage = recipe.stage("malware")
    config = registry.STAGES["malware"].config(stage.params) if stage is not None else None
    if config is None or not config.enabled:
        return {}
    if config.socket is not None:
        try:
            answer = ClamdScanner(config.socket, timeout=10).version()  # ClamAV 1.4.6/27843/Thu Dec  4 ...
        except (ClamAVError, OSError) as exc:
            return {"clamav": f"unknown: clamd at {config.socket} did not answer the launcher ({exc})"}
        engine, _, signatures = answer.partition("/")
        return {
            "clamav": engine,
            "clamav-signatures": f"daily {signatures.replace('/', ' (', 1)})"
            if signatures
            else "not reported by clamd (it names only a daily database's version)",
        }
    binary = find_binary("clamscan" if config.mode == "clamscan" else "clamd")
    return {"clamav": engine_version(binary), "clamav-signatures": database_version(config.database)}


def stages_off(recipe) -> dict[str, str]:
    """Stage name -> why the build left it out, for the recipe's stages the build does not run (the same test
    as the build's: the stage definition's ``off``)."""
    off = {}
    for spec in recipe.stages:
        stage = registry.STAGES[spec.name]
        if why := stage.why_off(stage.config(spec.params)):
            off[spec.name] = why
    return off
