"""repo_name from origin URLs: GitHub's https, git:// and SSH forms (scp-style ``git@github.com:owner/repo``
and ``ssh://``) all give ``owner/repo``, the same key opt-out matching uses; other hosts give their path."""

from __future__ import annotations

import pytest
from gitrepos import make_library_repo

from stack_v2.archive.import_git import import_git
from stack_v2.archive.listing import list_files
from stack_v2.archive.location import ArchiveLocation
from stack_v2.optout import normalized_repo_key
from stack_v2.records import repo_name_from_origin

GITHUB_FORMS = [
    "https://github.com/Owner/Repo",
    "https://github.com/Owner/Repo.git",
    "http://www.github.com/Owner/Repo/",
    "git://github.com/Owner/Repo.git",
    "git@github.com:Owner/Repo",
    "git@github.com:Owner/Repo.git",
    "git@github.com:Owner/Repo.git/",
    "ssh://git@github.com/Owner/Repo.git",
    "ssh://git@github.com:22/Owner/Repo",
    "git+ssh://git@github.com/Owner/Repo",
]


@pytest.mark.parametrize("origin", GITHUB_FORMS)
def test_every_github_form_gives_owner_slash_repo(origin):
    assert repo_name_from_origin(origin) == "Owner/Repo"  # case kept, as the-stack-v2's repo_name
    assert normalized_repo_key(origin) == "owner/repo"  # opt-out matching agrees


@pytest.mark.parametrize(
    ("origin", "name"),
    [
        ("git@gitlab.com:group/sub/project.git", "group/sub/project"),
        ("ssh://git@gitlab.com/group/project.git", "group/project"),
        ("https://bitbucket.org/team/project", "team/project"),
        ("https://github.com/owner/repo/tree/main", "owner/repo/tree/main"),  # not a repository URL
        ("git@github.com:repo-only", "repo-only"),
        (None, None),
    ],
)
def test_other_origins_give_their_path(origin, name):
    assert repo_name_from_origin(origin) == name


def test_files_of_an_ssh_origin_get_its_repo_name(tmp_path):
    """A repository imported under an SSH origin: the listed files carry repo_name owner/repo."""
    repo = make_library_repo(tmp_path, "jsonlib")
    archive = tmp_path / "archive"
    import_git([str(repo)], str(archive), origin_prefix="git@github.com:octo-org/")
    files, problems = list_files(ArchiveLocation(str(archive)))
    assert not problems and files
    assert {(f.origin, f.repo_name) for f in files} == {("git@github.com:octo-org/jsonlib", "octo-org/jsonlib")}
