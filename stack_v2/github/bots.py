"""Is a GitHub account a bot? The StarCoder rules, which The Stack v2 reused for issues and pull requests:
a name that contains one of a few keywords, ends with one of a few suffixes (both case-insensitive), or
is on an explicit list of known automation accounts (case-sensitive, as BigCode compared it). Pure.
"""

from __future__ import annotations

BOT_KEYWORDS = ("[bot]", "botmanager", "bors-", "jenkins", "k8s-", "-test-", "travis")
BOT_SUFFIXES = (
    "-automaton",
    "-automation",
    "-benchmark",
    "-build",
    "-deployer",
    "-cloud",
    "bot",
    "-ci",
    "-linter",
    "-teamcity",
    "-test",
    "-testing",
    "-service-account",
)
BOT_ACCOUNTS = frozenset(
    {
        "Apache-HBase",
        "AutorestCI",
        "CLAassistant",
        "claassistantio",
        "cmsbuild",
        "codecov-commenter",
        "codecov-io",
        "coveralls",
        "danger-public",
        "dnfclas",
        "karma-pr-reporter",
        "msftclas",
        "probot-stale",
        "PyDocTeur",
        "SparkQA",
    }
)


def is_bot(login: str) -> bool:
    lowered = login.lower()
    return (
        login in BOT_ACCOUNTS or any(keyword in lowered for keyword in BOT_KEYWORDS) or lowered.endswith(BOT_SUFFIXES)
    )
