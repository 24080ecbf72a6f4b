"""Writes benchmarks/pii_labelled.jsonl: labelled PII cases for bench_pii.py (deterministic: seeded RNG).

Each line is {"id", "path", "text", "expect": [{"type", "value"}], "note"}. ``expect`` lists every PII value a
perfect redactor replaces (type one of email, ip_address, key, password, name); an empty list is a hard
negative: text that looks like PII to a naive tool but must come out unchanged. Secrets are random strings in
each provider's real format, planted in code shaped like real files; negatives are the usual false-positive
complaints (lock-file hashes, UUIDs, example.com, version strings, private and DNS addresses, fixtures).
A few positives are known misses of the detectors (kept to keep the recall figure honest; see ``note``).
"""

from __future__ import annotations

import base64
import json
import random
import string
from pathlib import Path

OUT = Path(__file__).with_name("pii_labelled.jsonl")
rng = random.Random(20240229)
ALNUM = string.ascii_letters + string.digits


def rand(alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def aws_id() -> str:
    return rng.choice(["AKIA", "ASIA"]) + rand(string.ascii_uppercase + "234567", 16)


def aws_secret() -> str:
    return rand(ALNUM + "/+", 40)


def github() -> str:
    return rng.choice(["ghp_", "gho_", "ghs_", "ghu_"]) + rand(ALNUM, 36)


def slack() -> str:
    return f"xox{rng.choice('bpa')}-{rand(string.digits, 12)}-{rand(string.digits, 13)}-{rand(ALNUM, 24)}"


def slack_webhook() -> str:
    return f"https://hooks.slack.com/services/T{rand(string.ascii_uppercase + string.digits, 8)}/B{rand(string.ascii_uppercase + string.digits, 10)}/{rand(ALNUM, 24)}"


def stripe() -> str:
    return rng.choice(["sk_live_", "rk_live_"]) + rand(ALNUM, 24)


def jwt() -> str:
    name = rng.choice(["Maria Garcia", "Wei Chen", "Olu Adeyemi", "Sam Patel"])
    header = b64url(json.dumps({"alg": rng.choice(["HS256", "RS256"]), "typ": "JWT"}).encode())
    payload = b64url(
        json.dumps({"sub": rand(string.digits, 10), "name": name, "iat": rng.randint(1.5e9, 1.7e9)}).encode()
    )
    return f"{header}.{payload}.{b64url(rng.randbytes(32))}"


def pem(kind: str) -> tuple[str, str]:
    body = "\n".join(rand(ALNUM + "+/", 64) for _ in range(rng.randint(4, 9))) + "\n" + rand(ALNUM + "+/", 20) + "=="
    return f"-----BEGIN {kind}PRIVATE KEY-----\n{body}\n-----END {kind}PRIVATE KEY-----", body.split("\n")[1]


def entropy_b64(n: int = 40) -> str:
    return rand(ALNUM + "+/", n)


def hexkey(n: int = 32) -> str:
    return rand("0123456789abcdef", n)


def password() -> str:
    words = ["Tr0ub4dor", "S3cure", "Blue", "Mango", "Winter", "P@ss", "Zebra", "Quartz", "n0v4", "Kettle"]
    return (
        rng.choice(words) + rng.choice(["&3", "!9x", "#2024", "_77q", "$Lk", "%aa1"]) + rand(ALNUM, rng.randint(2, 6))
    )


def public_ipv4() -> str:
    while True:
        octets = [rng.randint(11, 223), rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254)]
        if octets[0] in (10, 100, 127, 169, 172, 192, 198, 203):
            continue
        return ".".join(map(str, octets))


def public_ipv6() -> str:
    return f"2{rand('0123456789abcdef', 3)}:{rand('0123456789abcdef', 4)}:{rand('0123456789abcdef', 3)}::{rand('0123456789abcdef', 4)}"


FIRST = ["maria", "wei", "olu", "sam", "anna", "jonas", "priya", "diego", "yuki", "fatima", "lars", "chloe"]
LAST = ["garcia", "chen", "adeyemi", "patel", "kowalski", "berg", "nair", "santos", "tanaka", "haddad"]
DOMAINS = [
    "gmail.com",
    "outlook.com",
    "protonmail.com",
    "univ-lyon1.fr",
    "cs.stanford.edu",
    "yahoo.co.jp",
    "posteo.de",
    "fastmail.fm",
    "acme-robotics.io",
    "mail.ru",
]


def email() -> str:
    sep = rng.choice([".", "_", ""])
    return f"{rng.choice(FIRST)}{sep}{rng.choice(LAST)}{rng.randint(0, 99) if rng.random() < 0.3 else ''}@{rng.choice(DOMAINS)}"


cases: list[dict] = []


def case(path: str, text: str, expect: list[tuple[str, str]], note: str) -> None:
    cases.append(
        {
            "id": f"c{len(cases):03d}",
            "path": path,
            "text": text,
            "expect": [{"type": t, "value": v} for t, v in expect],
            "note": note,
        }
    )


# --- positives: keys ---
for _ in range(8):
    k = aws_id()
    ctx = rng.choice(
        [
            f'AWS_ACCESS_KEY_ID = "{k}"\n',
            f"aws_access_key_id={k}\n",
            f'  "AccessKeyId": "{k}",\n',
            f'client = boto3.client("s3", aws_access_key_id="{k}")\n',
        ]
    )
    case(
        rng.choice(["settings.py", "deploy.sh", "creds.json", "upload.py"]),
        "import os\n" + ctx,
        [("key", k)],
        "AWS access key id",
    )
for _ in range(6):
    k = aws_secret()
    case(
        "config.py",
        f'# prod account\naws_secret_access_key = "{k}"\nregion = "eu-west-1"\n',
        [("key", k)],
        "AWS secret key",
    )
for _ in range(8):
    k = github()
    ctx = rng.choice(
        [
            f'GITHUB_TOKEN = "{k}"\n',
            f"headers = {{'Authorization': 'token {k}'}}\n",
            f'gh = Github("{k}")\n',
            f"export GH_TOKEN={k}\n",
        ]
    )
    case(rng.choice(["ci.py", "bot.py", "env.sh"]), ctx, [("key", k)], "GitHub token")
for _ in range(6):
    k = slack()
    case(
        rng.choice(["notify.py", "app.js"]),
        f'const token = "{k}";\nslack.chat.postMessage({{token}});\n',
        [("key", k)],
        "Slack token",
    )
for _ in range(4):
    k = slack_webhook()
    case("alert.py", f'WEBHOOK = "{k}"\nrequests.post(WEBHOOK, json=payload)\n', [("key", k)], "Slack webhook")
for _ in range(7):
    k = stripe()
    case(
        rng.choice(["billing.py", "pay.rb", "checkout.js"]),
        f"stripe.api_key = '{k}'\n",
        [("key", k)],
        "Stripe live key",
    )
for kind in ["RSA ", "EC ", "OPENSSH ", "", "DSA ", "RSA "]:
    block, fragment = pem(kind)
    wrap = rng.choice(["{b}\n", 'KEY = """{b}"""\n', "key: |\n  " + "{b}".replace("\n", "\n  ") + "\n"])
    text = wrap.format(b=block) if "{b}" in wrap else wrap
    if wrap.startswith("key: |"):
        text = "key: |\n  " + block.replace("\n", "\n  ") + "\n"
    case(
        rng.choice(["id_rsa", "keys.py", "secrets.yml"]),
        text,
        [("key", fragment)],
        "private key block (value: a body line)",
    )
for _ in range(8):
    k = jwt()
    case(
        rng.choice(["test_auth.py", "api.js", "README.md"]),
        f'curl -H "Authorization: Bearer {k}" https://api.internal-corp.net/v1/me\n',
        [("key", k)],
        "JWT (header.payload.signature)",
    )
for _ in range(8):
    k = entropy_b64(rng.choice([32, 40, 44]))
    name = rng.choice(["SECRET", "client_secret", "SIGNING_KEY", "encryption_key", "session_secret", "app_secret"])
    case(
        "settings.py",
        f"DEBUG = False\n{name} = '{k}'\n",
        [("key", k)],
        "high-entropy assignment (a short random string can fall under detect-secrets' 4.5-bit limit)",
    )
for _ in range(6):
    k = hexkey(rng.choice([32, 40]))
    name = rng.choice(["api_key", "API_TOKEN", "access_key", "auth_token"])
    case("client.py", f'{name} = "{k}"\n', [("key", k)], "hex key named as a key")

k = "sk_test_" + rand(ALNUM, 24)
case(
    "stripe.py",
    f'stripe.api_key = "{k}"\n',
    [("key", k)],
    "Stripe test-mode key: a real credential (found as high entropy)",
)

# --- positives: passwords ---
for _ in range(14):
    p = password()
    ctx = rng.choice(
        [
            f'password = "{p}"\n',
            f"DB_PASSWORD = '{p}'\n",
            f'conn = connect(user="app", passwd="{p}")\n',
            f'"password": "{p}",\n',
            f'$db_pass = "{p}";\n',
            f'String pwd = "{p}";\n',
        ]
    )
    case(rng.choice(["db.py", "config.json", "db.php", "Main.java"]), ctx, [("password", p)], "password assignment")
for _ in range(4):
    p = password()
    case(
        "docker-compose.yml",
        f"services:\n  db:\n    environment:\n      password: {p}\n",
        [("password", p)],
        "YAML password (unquoted)",
    )

# --- positives: emails ---
for _ in range(20):
    e = email()
    ctx = rng.choice(
        [
            f'__author__ = "{e}"\n',
            f"# Maintainer: {rng.choice(FIRST).title()} <{e}>\n",
            f'contact = "{e}"\n',
            f" * @author {e}\n",
            f"Signed-off-by: someone <{e}>\n",
            f'send_mail("Hi", body, "{e}", [admin])\n',
        ]
    )
    case(rng.choice(["setup.py", "Main.java", "CHANGELOG", "mailer.py"]), ctx, [("email", e)], "personal email")
e1, e2 = email(), email()
case("AUTHORS", f"{e1}\n{e2}\n{e1}\n", [("email", e1), ("email", e2)], "several emails, one repeated")

# --- positives: IPs ---
for _ in range(16):
    ip = public_ipv4()
    ctx = rng.choice(
        [
            f'SERVER = "{ip}"\n',
            f"ssh deploy@{ip} -p 2222\n",
            f"upstream backend {{ server {ip}:8080; }}\n",
            f'requests.get("http://{ip}/api/health")\n',
            f"ALLOWED_HOSTS = ['{ip}']\n",
        ]
    )
    case(rng.choice(["deploy.py", "nginx.conf", "run.sh"]), ctx, [("ip_address", ip)], "public IPv4")
for _ in range(6):
    ip = public_ipv6()
    case("hosts.py", f'PEER = "{ip}"\n', [("ip_address", ip)], "public IPv6")

# --- known misses (kept for honest recall) ---
p = password()
case(".env", f"DB_PASSWORD={p}\n", [("password", p)], "known miss: unquoted .env value (detect-secrets needs quotes)")
p = password()
case(
    "settings.py",
    f'DATABASE_URL = "postgres://app:{p}@db.prod-corp.io:5432/app"\n',
    [("password", p)],
    "known miss: password inside a URL (BasicAuthDetector is not in the issue's plugin set)",
)
k = entropy_b64(36)
case("client.py", f'client = Client("{k}")\n', [("key", k)], "known miss: high-entropy string passed, not assigned")

# --- hard negatives ---
NEG = [
    ("package-lock.json", '"integrity": "sha512-' + entropy_b64(86) + '==",\n', "lock-file integrity hash"),
    ("poetry.lock", 'files = [{file = "x.whl", hash = "sha256:' + hexkey(64) + '"}]\n', "poetry hash"),
    ("Cargo.lock", 'checksum = "' + hexkey(64) + '"\n', "Cargo checksum"),
    ("go.sum", "golang.org/x/net v0.17.0 h1:" + entropy_b64(43) + "=\n", "go.sum"),
    ("Dockerfile", "FROM python@sha256:" + hexkey(64) + "\n", "image digest"),
    (
        "index.html",
        '<script src="x.js" integrity="sha384-' + entropy_b64(64) + '" crossorigin="anonymous"></script>\n',
        "SRI hash",
    ),
    ("build.py", 'COMMIT = "' + hexkey(40) + '"\n', "git commit sha"),
    ("test_hash.py", 'assert md5(b"").hexdigest() == "d41d8cd98f00b204e9800998ecf8427e"\n', "md5 test vector"),
    ("models.py", 'DEFAULT_ID = "123e4567-e89b-12d3-a456-426614174000"\n', "UUID"),
    ("models.py", 'request_id = "' + "-".join(hexkey(n) for n in (8, 4, 4, 4, 12)) + '"\n', "UUID"),
    ("README.md", "Write to alice@example.com or bob@example.org for access.\n", "example.com email"),
    ("docs.rst", "Set ``EMAIL=you@yourdomain.com`` in the config.\n", "placeholder email"),
    ("conf.py", 'author_email = "jane@test.example.com"\n', "example subdomain"),
    ("Makefile", "git clone git@github.com:org/repo.git\n", "git SSH remote"),
    ("style.css", 'background: url("icon@2x.png");\n', "retina asset"),
    ("package.json", '"dependencies": {"lodash": "npm:lodash@4.17.21"}\n', "npm version"),
    ("model.py", "y = X@W.T + b\nz = x@self.weight\n", "matrix products"),
    ("app.py", "@app.route('/')\n@login_required\ndef index():\n    pass\n", "decorators"),
    ("setup.py", 'version = "1.2.3.4"\n', "version string"),
    ("setup.py", "__version__ = '2.10.3.1'\n", "version string"),
    ("requirements.txt", "somepkg==4.2.10.1\nother>=11.0.2.5\n", "pinned versions"),
    ("CHANGELOG", "## Release 3.1.4.15 (2024-01-02)\n", "release number"),
    ("about.py", "Firmware v5.12.200.1 fixes boot\n", "v-prefixed version"),
    ("net.py", 'LOCAL = "192.168.1.10"\nGATEWAY = "10.0.0.1"\nPEER = "172.20.4.5"\n', "private IPv4"),
    ("net.py", 'LOOPBACK = "127.0.0.1"\nANY = "0.0.0.0"\nV6 = "::1"\n', "loopback and any"),
    ("dns.py", 'NAMESERVERS = ["8.8.8.8", "1.1.1.1", "9.9.9.9", "208.67.222.222"]\n', "popular DNS servers"),
    ("dns.py", 'RESOLVER6 = "2001:4860:4860::8888"\n', "Google DNS IPv6"),
    ("docs.py", 'EXAMPLE = "192.0.2.15"  # TEST-NET-1\nDOC6 = "2001:db8::1"\n', "documentation ranges"),
    ("net.py", 'NETMASK = "255.255.255.0"\nBCAST = "255.255.255.255"\n', "netmasks"),
    ("ssdp.py", 'SSDP_ADDR = "239.255.255.250"\nMDNS = "224.0.0.251"\n', "multicast"),
    ("snmp.py", 'OID = "1.3.6.1.4.1.2021.10.1.3.1"\n', "SNMP OID"),
    ("test_net.py", 'assert parse("1.2.3.4") == 16909060\nHOST = "12.34.56.78"\n', "made-up test IPs"),
    ("slices.py", "evens = x[0::2]\nodds = x[1::2]\nrev = y[2000::3000]\n", "Python slices"),
    ("main.cpp", "std::vector<int> v; std::map<std::string, int> m;\n", "C++ scopes"),
    ("mac.py", 'MAC = "00:1a:2b:3c:4d:5e"\nTIME = "12:34:56"\n', "MAC address and time"),
    ("test_login.py", 'password = "test"\nPASSWORD = "password"\npwd = "changeme"\n', "placeholder passwords"),
    ("forms.py", 'PASSWORD_FIELD = "password_confirm"\nsecret_name = "SECRET_KEY"\n', "field names"),
    ("settings.py", 'SECRET_KEY = os.environ["SECRET_KEY"]\npassword = get_password()\n', "indirect references"),
    ("config.yml", "password: ${DB_PASSWORD}\napi_key: '{{ api_key }}'\n", "templates"),
    ("login.html", '<input type="password" name="password" placeholder="Password">\n', "HTML form"),
    ("prompt.py", 'password_prompt = "Enter your password: "\n', "prompt text"),
    (
        "aws_docs.py",
        'AWS_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"\naws_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"\n',
        "AWS documentation keys",
    ),
    (
        "jwt_docs.md",
        "Token: eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c\n",
        "jwt.io example token",
    ),
    ("slack.py", 'SLACK_TOKEN = "xoxb-your-token-here"\n', "Slack placeholder"),
    ("tokens.py", 'GITHUB_TOKEN = "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"\n', "GitHub placeholder"),
    ("b32.py", '_b32alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"\n', "alphabet"),
    ("chars.py", 'ALLOWED = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"\n', "alphabet"),
    ("colors.css", "color: #1a2b3c; background: #ffeedd;\n", "hex colours"),
    ("i18n.py", 'MESSAGE_KEY = "user_profile_settings_page_title_long_name"\n', "long identifier string"),
    ("pubkey.py", 'PUBLIC_KEY = "-----BEGIN PUBLIC KEY-----\\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE"\n', "public key"),
    (
        "cert.pem",
        "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUV" + rand(ALNUM, 40) + "\n-----END CERTIFICATE-----\n",
        "certificate",
    ),
    (
        "data.py",
        'LOGO = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="\n',
        "data URI",
    ),
    ("pragma.py", 'API_KEY = "' + entropy_b64(40) + '"  # pragma: allowlist secret\n', "allowlisted by the author"),
    ("test_crypto.py", 'VECTORS = ["' + hexkey(64) + '", "' + hexkey(64) + '"]\n', "unnamed hex test vectors"),
    ("test_b64.py", 'self.assertEqual(decode(s), "' + entropy_b64(44) + '")\n', "base64 expected value, not assigned"),
    ("urls.py", 'path("reset/<uidb64>/<token>/", views.reset, name="password_reset_confirm")\n', "route"),
    ("scan.py", "for ip in ('10.1.1.1', '10.1.1.2'):\n    ping(ip)\n", "private IPs in a loop"),
]
for path, text, note in NEG:
    case(path, text, [], "negative: " + note)
# negatives drawn at random too: versions, private addresses, example.com mailboxes, uuids, sha1s
for _ in range(20):
    major, minor, patch, build = rng.randint(1, 20), rng.randint(0, 40), rng.randint(0, 200), rng.randint(1, 999)
    case("setup.cfg", f"version = {major}.{minor}.{patch}.{build}\n", [], "negative: version string")
for _ in range(20):
    ip = rng.choice(
        [
            f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            f"192.168.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            f"172.{rng.randint(16, 31)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        ]
    )
    case("hosts.ini", f"[db]\nhost = {ip}\n", [], "negative: private IPv4")
for _ in range(20):
    case(
        "docs.md",
        f"Contact {rng.choice(FIRST)}@example.{rng.choice(['com', 'org', 'net'])} for help.\n",
        [],
        "negative: example domain",
    )
for _ in range(15):
    u = "-".join(hexkey(n) for n in (8, 4, 4, 4, 12))
    case("fixtures.json", f'{{"id": "{u}", "name": "widget"}}\n', [], "negative: UUID")
for _ in range(15):
    case(
        "versions.lock",
        f'  resolved "https://registry.yarnpkg.com/pkg/-/pkg-1.0.{rng.randint(0, 9)}.tgz#{hexkey(40)}"\n',
        [],
        "negative: yarn lock sha1",
    )

OUT.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases))
print(f"{OUT.name}: {len(cases)} cases, {sum(1 for c in cases if c['expect'])} with PII")
