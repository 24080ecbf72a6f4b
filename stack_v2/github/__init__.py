"""GitHub's public event stream (GHArchive) as training documents: the pure cores of the issues source
(docs/github-issues.md).

``events.parse_line`` reads one GHArchive line; ``issue_threads.decide_thread`` turns one issue's events
into a rendered, anonymised thread or a ``Drop``; ``bots.is_bot`` and ``email_replies.strip_email_reply``
are the rules both issues and pull requests use.
"""

from stack_v2.github.bots import is_bot
from stack_v2.github.email_replies import strip_email_reply
from stack_v2.github.events import IssueEvent, Skip, parse_line
from stack_v2.github.issue_threads import IssueThread, decide_thread

__all__ = ["IssueEvent", "IssueThread", "Skip", "decide_thread", "is_bot", "parse_line", "strip_email_reply"]
