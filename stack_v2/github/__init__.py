"""GitHub's public event stream (GHArchive) as training documents: the pure cores of the issues and
pull-request sources (docs/sources.md).

``events.parse_line`` reads one GHArchive line for the issues source; ``issue_threads.decide_thread`` turns one
issue's events into a rendered, anonymised thread or a ``Drop``. ``pr_events.parse_pr_line`` and
``pull_requests.decide_pull_request`` do the same for pull requests, up to the diff (which needs the archive's
trees). ``bots.is_bot`` and ``email_replies.strip_email_reply`` are the rules both use.
"""

from stack_v2.github.bots import is_bot
from stack_v2.github.email_replies import strip_email_reply
from stack_v2.github.events import IssueEvent, Skip, parse_line
from stack_v2.github.issue_threads import IssueThread, decide_thread
from stack_v2.github.pr_events import PrEvent, parse_pr_line
from stack_v2.github.pull_requests import PullRequest, decide_pull_request

__all__ = [
    "IssueEvent",
    "IssueThread",
    "PrEvent",
    "PullRequest",
    "Skip",
    "decide_pull_request",
    "decide_thread",
    "is_bot",
    "parse_line",
    "parse_pr_line",
    "strip_email_reply",
]
