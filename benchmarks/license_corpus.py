"""A labelled license corpus: real PyPI packages whose metadata declares one license, and their sdists.

Two steps, both re-runnable:

    python benchmarks/license_corpus.py select --workdir DIR   # CANDIDATES -> benchmarks/data/license_corpus.csv
    python benchmarks/license_corpus.py fetch --workdir DIR    # the CSV's sdists -> DIR/sdists/ (checked sha256)

``select`` reads each candidate's metadata from PyPI's JSON API (one request per candidate, cached in
DIR/json/) and keeps the packages whose declaration is unambiguous: a ``License-Expression``, else
exactly one specific ``License :: OSI Approved :: ...`` classifier (or the CC0 / public-domain ones). It
excludes packages with several different license classifiers, "Other/Proprietary", a bare
``License :: OSI Approved``, a ``LicenseRef-`` of their own, no sdist, or an sdist over ``--max-mb``.
The declared type follows filters/licenses/permissive.tsv with the paper's reading of ``OR``: permissive
only when every license named is permissive. ``fetch`` downloads exactly the versions the CSV pins, so
the benchmark reruns on the same files. The sdists stay in DIR, never in the repository.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import re
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

CSV_PATH = Path(__file__).resolve().parent / "data" / "license_corpus.csv"
FIELDS = ("name", "version", "declared", "declared_type", "source", "sdist", "sha256", "size")
PYPI = "https://pypi.org/pypi"

# Chosen by hand to hold many copyleft (GPL, LGPL, AGPL, MPL, EPL) and PSF-licensed packages besides the
# common permissive ones; the metadata, not this list, says which is which.
CANDIDATES = """
mutagen pylint astroid logilab-common rpy2 scapy pyinstaller paramiko chardet certifi pathspec tqdm psycopg2
psycopg mysqlclient unidecode text-unidecode html2text pyenchant pycairo pyudev urwid python-xlib pikepdf
duplicity pyxdg trytond gnureadline rope prospector pylint-django pylint-plugin-utils keystone-engine gmpy2
cypari2 igraph leidenalg healpy ete3 xdot eyed3 python-vlc pynput odfpy fpdf2 internetarchive gallery-dl
ranger-fm python-debian launchpadlib lazr.config lazr.delegates lazr.restfulclient lazr.uri wadllib
mailmanclient mailman hyperkitty postorius django-mailman3 pyroute2 systemd-python pycups ewmh nose scp asyncssh
ldap3 pymssql mariadb sqlobject dramatiq python-crontab translate-toolkit language-tool-python
python-levenshtein levenshtein fuzzywuzzy beancount getmail6 radicale borgmatic pyload-ng hg-git pyexiftool
pygobject qscintilla jwcrypto intbitset hypothesis swh.core swh.model swh.auth swh.web.client gemfileparser2
cchardet orjson autocommand pyqt5 pyqt6 sip pyqt5-sip pygame onionshare-cli nicotine-plus octoprint
mdanalysis htseq pysam cartopy shapely pyproj pyshp rtree owslib geopy gpxpy srtm.py pyephem ephem
mutatormath ufolib2 fontmath defcon booleanoperations cu2qu fontparts glyphslib ufo2ft ttfautohint-py
python-gettext polib babel pyicu pyspellchecker textblob jellyfish rapidfuzz thefuzz editdistance anyascii
pysnmp netaddr ipaddress netifaces dnslib py3dns pyspf authres dkimpy dmarc pymilter flufl.lock flufl.i18n
flufl.bounce atpublic aiosmtpd lazr.smtptest zope.interface zope.component zope.event zope.schema persistent
btrees zodb transaction restrictedpython zc.lockfile zconfig zdaemon zc.buildout plone.api products.cmfplone
plone.app.contenttypes plone.restapi diazo collective.recipe.template z3c.form
typing_extensions aiohappyeyeballs defusedxml contextlib2 typing futures backports.ssl-match-hostname
subprocess32 python-memcached pyalsaaudio greenlet exceptiongroup regex distlib argparse statistics trollius
functools32 selectors34 zipfile36 graphlib-backport taskgroup backports.asyncio-runner typed-ast astunparse
backports.zoneinfo pyreadline3 docutils roman sortedcontainers
aiofiles aiohttp aiosignal annotated-types anyio asn1crypto attrs beautifulsoup4 binaryornot blinker boolean.py
boto3 botocore build cachetools cffi charset-normalizer click cloudpickle colorama commoncode contourpy
cryptography cycler dask deprecated deprecation detect-secrets dill distributed distro dnspython docker
dockerfile-parse docstring-parser fastavro fasteners fastjsonschema filelock fingerprints fire flask flask-cors
frozenlist fsspec ftfy gast gunicorn h11 html5lib httpcore httplib2 httpx idna importlib-metadata iniconfig
iso8601 itsdangerous jaraco.classes jaraco.context jaraco.functools javaproperties jeepney jinja2 jmespath
jsonpatch jsonpath-ng jsonpickle jsonpointer jsonschema jsonschema-specifications jupyter-core jupytext keyring
kiwisolver license-expression locket markdown-it-py markupsafe mdit-py-plugins mdurl mmh3 more-itertools moto
mpmath msgpack multidict networkx normality nbformat packageurl-python packaging partd pathable pdfminer.six
pefile pg8000 pip pkginfo2 platformdirs pluggy ply propcache psutil publicsuffix2 pyahocorasick pyasn1
pyasn1-modules pycparser pydantic pygments pymongo pymysql pyparsing pyproject-hooks pytest python-dateutil
python-dotenv python-magic python-mimeparse python-multipart pytz pyyaml rdflib referencing requests
requests-toolbelt responses rfc3339-validator rich rpds-py rsa s3transfer saneyaml scramp secretstorage
semantic-version shellingham six smart-open sniffio soupsieve spdx-tools sqlparse starlette sympy tblib tenacity
termcolor toml toolz tornado traitlets typecode typer uritools urllib3 uvicorn wcwidth webencodings websockets
werkzeug wheel wrapt xmltodict xxhash yarl zict zipp zstandard
django celery kombu billiard amqp vine redis sqlalchemy peewee alembic mako marshmallow falcon bottle cherrypy
pyramid twisted gevent eventlet pexpect ptyprocess invoke fabric pyopenssl bcrypt pynacl passlib pyotp qrcode
openpyxl xlrd xlsxwriter python-docx pypdf reportlab markdown mistune bleach lxml-html-clean nltk jieba
""".split()


def fetch_json(url: str, cache: Path) -> dict | None:
    if cache.is_file():
        return json.loads(cache.read_text())
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            data = json.load(response)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise
    cache.write_text(json.dumps(data))
    return data


# Trove classifier (after "License :: OSI Approved :: ") -> SPDX-ish id; the type comes from permissive.tsv.
CLASSIFIERS = {
    "MIT License": "MIT",
    "MIT No Attribution License (MIT-0)": "MIT-0",
    "BSD License": "BSD-3-Clause",  # which BSD is not said; every BSD variant is permissive
    "Apache Software License": "Apache-2.0",
    "ISC License (ISCL)": "ISC",
    "Python Software Foundation License": "PSF-2.0",
    "zlib/libpng License": "Zlib",
    "The Unlicense (Unlicense)": "Unlicense",
    "Boost Software License 1.0 (BSL-1.0)": "BSL-1.0",
    "Zope Public License": "ZPL-2.1",
    "Historical Permission Notice and Disclaimer (HPND)": "HPND",
    "Universal Permissive License (UPL)": "UPL-1.0",
    "Academic Free License (AFL)": "AFL-3.0",
    "University of Illinois/NCSA Open Source License": "NCSA",
    "GNU General Public License (GPL)": "GPL-1.0-or-later",
    "GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
    "GNU General Public License v2 or later (GPLv2+)": "GPL-2.0-or-later",
    "GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    "GNU General Public License v3 or later (GPLv3+)": "GPL-3.0-or-later",
    "GNU Lesser General Public License v2 (LGPLv2)": "LGPL-2.0-only",
    "GNU Lesser General Public License v2 or later (LGPLv2+)": "LGPL-2.0-or-later",
    "GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
    "GNU Lesser General Public License v3 or later (LGPLv3+)": "LGPL-3.0-or-later",
    "GNU Library or Lesser General Public License (LGPL)": "LGPL-2.0-or-later",
    "GNU Affero General Public License v3": "AGPL-3.0-only",
    "GNU Affero General Public License v3 or later (AGPLv3+)": "AGPL-3.0-or-later",
    "Mozilla Public License 1.0 (MPL)": "MPL-1.0",
    "Mozilla Public License 1.1 (MPL 1.1)": "MPL-1.1",
    "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "Eclipse Public License 1.0 (EPL-1.0)": "EPL-1.0",
    "Eclipse Public License 2.0 (EPL-2.0)": "EPL-2.0",
    "European Union Public Licence 1.1 (EUPL 1.1)": "EUPL-1.1",
    "European Union Public Licence 1.2 (EUPL 1.2)": "EUPL-1.2",
    "Common Development and Distribution License 1.0 (CDDL-1.0)": "CDDL-1.0",
    "Artistic License": "Artistic-2.0",
}
OTHER_CLASSIFIERS = {
    "License :: CC0 1.0 Universal (CC0 1.0) Public Domain Dedication": "CC0-1.0",
    "License :: Public Domain": "LicenseRef-scancode-public-domain",
}


def declared(info: dict) -> tuple[str, str] | str:
    """(SPDX-ish id or expression, where it came from), or why the declaration is ambiguous."""
    expression = (info.get("license_expression") or "").strip()
    if expression:
        if "LicenseRef-" in expression:  # a license of the project's own naming: no type to compare with
            return f"a LicenseRef in the License-Expression: {expression}"
        return expression, "License-Expression"
    found, other = set(), []
    for classifier in info.get("classifiers") or ():
        if not classifier.startswith("License ::"):
            continue
        if classifier in OTHER_CLASSIFIERS:
            found.add(OTHER_CLASSIFIERS[classifier])
        elif classifier.startswith("License :: OSI Approved :: "):
            name = classifier.removeprefix("License :: OSI Approved :: ")
            if name in CLASSIFIERS:
                found.add(CLASSIFIERS[name])
            else:
                other.append(name)
        elif classifier != "License :: OSI Approved":
            other.append(classifier)
    if other:
        return f"unmapped or proprietary classifier: {'; '.join(other)}"
    if len(found) != 1:
        return "no specific license classifier" if not found else f"several license classifiers: {sorted(found)}"
    return found.pop(), "classifier"


def declared_type(expression: str, permissive: frozenset[str]) -> str:
    """permissive when every license the expression names is permissive (OR counts as the paper's rule does)."""
    symbols = {s for s in re.split(r"[\s()]+", expression) if s and s.upper() not in ("AND", "OR", "WITH")}
    symbols = {s.removesuffix("+") if s.endswith("+") else s for s in symbols}
    return "permissive" if symbols and symbols <= permissive else "non_permissive"


def select(workdir: Path, max_mb: float) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from stack_v2.licenses.classify import load_permissive

    permissive = load_permissive()
    cache = workdir / "json"
    cache.mkdir(parents=True, exist_ok=True)
    rows, excluded = [], []
    for name in dict.fromkeys(CANDIDATES):
        data = fetch_json(f"{PYPI}/{name}/json", cache / f"{name}.json")
        if data is None:
            excluded.append((name, "not on PyPI"))
            continue
        info = data["info"]
        verdict = declared(info)
        if isinstance(verdict, str):
            excluded.append((name, verdict))
            continue
        sdists = [u for u in data["urls"] if u["packagetype"] == "sdist"]
        if not sdists:
            excluded.append((name, "no sdist"))
            continue
        sdist = sdists[0]
        if sdist["size"] > max_mb * 1e6:
            excluded.append((name, f"sdist of {sdist['size'] / 1e6:.1f} MB"))
            continue
        expression, source = verdict
        rows.append(
            {
                "name": info["name"],
                "version": info["version"],
                "declared": expression,
                "declared_type": declared_type(expression, permissive),
                "source": source,
                "sdist": urllib.parse.urljoin(f"{PYPI}/{name}/json", sdist["url"]),  # may be relative
                "sha256": sdist["digests"]["sha256"],
                "size": sdist["size"],
            }
        )
    rows.sort(key=lambda r: r["name"].lower())
    CSV_PATH.parent.mkdir(parents=True, exist_ok=True)
    with open(CSV_PATH, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    (workdir / "excluded.json").write_text(json.dumps(excluded, indent=1))
    kinds = {t: sum(r["declared_type"] == t for r in rows) for t in ("permissive", "non_permissive")}
    print(f"{len(rows)} packages ({kinds}), {len(excluded)} excluded (see {workdir / 'excluded.json'})")
    return 0


def read_corpus(path: Path = CSV_PATH) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f))


def sdist_path(workdir: Path, row: dict) -> Path:
    return workdir / "sdists" / row["sdist"].rsplit("/", 1)[-1]


def fetch(workdir: Path) -> int:
    (workdir / "sdists").mkdir(parents=True, exist_ok=True)
    failed = 0
    for i, row in enumerate(read_corpus(), 1):
        path = sdist_path(workdir, row)
        if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == row["sha256"]:
            continue
        for attempt in range(3):
            try:
                with urllib.request.urlopen(row["sdist"], timeout=120) as response:
                    data = response.read()
                break
            except OSError as exc:
                print(f"{row['name']}: {exc} (attempt {attempt + 1})", file=sys.stderr)
                time.sleep(2)
        else:
            failed += 1
            continue
        if hashlib.sha256(data).hexdigest() != row["sha256"]:
            print(f"{row['name']}: sha256 mismatch", file=sys.stderr)
            failed += 1
            continue
        path.with_suffix(".part").write_bytes(data)
        os.replace(path.with_suffix(".part"), path)
        print(f"[{i}] {path.name}", file=sys.stderr)
    print(f"fetched; {failed} failed")
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("select", "fetch"))
    parser.add_argument("--workdir", required=True, help="cache for PyPI's JSON and the sdists (outside the repo)")
    parser.add_argument("--max-mb", type=float, default=15.0, help="larger sdists are left out (select)")
    args = parser.parse_args()
    workdir = Path(args.workdir).resolve()
    return select(workdir, args.max_mb) if args.command == "select" else fetch(workdir)


if __name__ == "__main__":
    sys.exit(main())
