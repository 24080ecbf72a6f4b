"""Shared fixtures: a real S3 server (moto's, in-process) reached through the standard AWS environment."""

from __future__ import annotations

import logging
import os

import pytest
from s3util import env_restore, env_snapshot

_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    # Keep a developer's own AWS config and profiles out of the tests.
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
_AWS_UNSET = ["AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_ENDPOINT_URL_S3"]


@pytest.fixture(scope="session", autouse=True)
def private_cache_dir(tmp_path_factory):
    """Caches (the license cache's SQLite file) go to a temporary directory, not the user's ~/.cache."""
    saved = env_snapshot(["XDG_CACHE_HOME"])
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))
    yield os.environ["XDG_CACHE_HOME"]
    env_restore(saved)


@pytest.fixture(scope="session")
def s3_endpoint():
    """URL of a moto S3 server on 127.0.0.1; AWS_ENDPOINT_URL and test credentials point at it meanwhile."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    saved = env_snapshot([*_AWS_ENV, *_AWS_UNSET, "AWS_ENDPOINT_URL"])
    for name in _AWS_UNSET:
        os.environ.pop(name, None)
    os.environ.update(_AWS_ENV, AWS_ENDPOINT_URL=url)
    try:
        yield url
    finally:
        env_restore(saved)
        server.stop()


@pytest.fixture(scope="session")
def bpe_tokenizer(tmp_path_factory):
    """Path of a tokenizer.json: a small BPE trained on real code, with StarCoder2's special tokens."""
    from tokenizer_files import train_bpe

    return train_bpe(tmp_path_factory.mktemp("tokenizer") / "tokenizer.json")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Each phase's report on the test item (``item.rep_setup``, ``rep_call``, ``rep_teardown``), so that fixtures
    can tell at teardown whether the test failed (tests/browser.py's ``page`` keeps a screenshot then)."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
