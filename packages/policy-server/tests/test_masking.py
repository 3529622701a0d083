"""Secrets never reach the decision log or the server's log lines."""

from __future__ import annotations

import logging

import httpx2
import pytest

from inherence_policy_server import create_app, issue_key
from inherence_policy_server._masking import MASK, mask_arguments, mask_text
from inherence_policy_server.rules._secrets import find_secrets

from .conftest import SCRIPTED_CONFIG, START, scripted_evaluator

SECRETS = [
    "AKIAIOSFODNN7EXAMPLE",
    "ghp_" + "a1B2" * 9,
    "sk-proj-" + "x" * 40,
    "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
    "xoxb-123456789012-abcdefghijkl",
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "inh_0123456789ab_" + "k" * 43,
]


@pytest.mark.parametrize("secret", SECRETS)
def test_token_formats_are_masked_anywhere_in_the_arguments(secret: str) -> None:
    masked = mask_arguments({"nested": [{"body": f"here it is: {secret} thanks"}]})
    text = repr(masked)
    assert secret not in text
    assert MASK in text
    assert "here it is" in text


@pytest.mark.parametrize(
    "text",
    [
        "password=hunter22",
        "PASSWORD = hunter22",
        "api-key: abcdefgh",
        # Case-insensitive matching lets these non-ASCII letters stand for ASCII ones.
        "pa\u017fsword=hunter22",
        "ap\u0131key: abcdefgh",
        "\u212aelvin token=abcdefgh",
        "curl -H 'Authorization: Bearer abcdefghijkl' https://x.example",
    ],
)
def test_assignments_and_headers_are_masked_however_they_are_spelled(text: str) -> None:
    masked = mask_text(text)
    assert MASK in masked
    assert not any(word in masked for word in ("hunter22", "abcdefgh"))


def test_values_under_secret_keys_are_masked_and_the_rest_kept() -> None:
    masked = mask_arguments({"password": "hunter2", "Authorization": "x", "apiKey": 12345, "path": "/tmp/a"})
    assert masked == {"password": MASK, "Authorization": MASK, "apiKey": MASK, "path": "/tmp/a"}


AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"AWS_SECRET_ACCESS_KEY={AWS_SECRET} aws s3 cp s3://b/x .", AWS_SECRET),
        (f'{{"aws_secret_access_key": "{AWS_SECRET}"}}', AWS_SECRET),
        ("git clone https://deploy:Tr0ub4dor-3@git.example.com/repo.git", "Tr0ub4dor-3"),
        ("postgresql://app:pg-S3cret!@db.internal:5432/app", "pg-S3cret!"),
        ("mysql -u root -pSup3rSecret app", "Sup3rSecret"),
        ("mysql -u root --password=Sup3rSecret app", "Sup3rSecret"),
        ("mysqldump --password 'two words' app", "two words"),
        ("sshpass -p Hunter2Pass ssh admin@host", "Hunter2Pass"),
        ("curl -u alice:Wonder1and https://api.example.com", "Wonder1and"),
        ("curl --user alice:Wonder1and https://api.example.com", "Wonder1and"),
        ("PGPASSWORD=Pg0secret psql -h db -U app", "Pg0secret"),
        ("export GITHUB_TOKEN='tok en 42'; gh pr list", "tok en 42"),
        ("redis-cli -h cache -a R3disPass ping", "R3disPass"),
        ("https://maps.example.com/api?key=AbCdEf123&q=x", "AbCdEf123"),
        ("https://api.example.com/v1?token=T0k3nValue", "T0k3nValue"),
        ("https://api.example.com/v1?api_key=K3yValue&x=1", "K3yValue"),
        ("https://graph.example.com/me?access_token=EAAB0123xyz", "EAAB0123xyz"),
        ("https://bucket.s3.example.com/f?X-Amz-Expires=60&sig=S1gnature0", "S1gnature0"),
        ("Authorization: Bearer opaque.token-value", "opaque.token-value"),
        ("authorization: token 0pAqUe", "0pAqUe"),
        ("Cookie: session=abc123def; theme=dark", "session=abc123def"),
        ("openssl enc -pass pass:Pa55phrase -in f", "Pa55phrase"),
        ("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBx\n-----END EC PRIVATE KEY-----", "MHcCAQEEIBx"),
        ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"),
        ("twilio key SK" + "0123456789abcdef" * 2, "0123456789abcdef" * 2),
        ("SG." + "a" * 22 + "." + "b" * 43, "b" * 43),
        ("glpat-" + "x1Y2" * 5, "x1Y2" * 5),
        ("npm_" + "a1" * 18, "a1" * 18),
        ("AIza" + "B" * 35, "B" * 35),
        ("sk-ant-api03-" + "q" * 30, "q" * 30),
    ],
)
def test_credentials_in_every_common_shape_are_masked(text: str, secret: str) -> None:
    masked = mask_arguments({"command": text, "env": [text], "nested": {"args": [text]}})
    assert secret not in repr(masked), masked
    assert MASK in masked["command"]


def test_values_of_any_shape_under_secret_keys_are_masked() -> None:
    arguments = {
        "tokens": ["ghx_first-token", "second token"],
        "credentials": {"user": "bob", "pass": "Hunter2"},
        "pin": 4821,
        "client_secret": 12.5,
        "password": {"deep": [{"er": "Hunter2"}]},
        "password_set": True,
        "author": {"name": "Jane"},
    }
    masked = mask_arguments(arguments)
    assert masked["tokens"] == masked["credentials"] == masked["pin"] == masked["client_secret"] == MASK
    assert masked["password"] == MASK
    assert masked["password_set"] is True
    assert masked["author"] == {"name": "Jane"}


def test_what_the_rules_call_a_secret_is_what_the_log_masks() -> None:
    text = f"aws configure set aws_secret_access_key {AWS_SECRET}; AWS_SECRET_ACCESS_KEY={AWS_SECRET} aws s3 ls"
    assert find_secrets(text)
    assert AWS_SECRET not in mask_text(text)


def test_a_secret_cut_at_the_length_bound_is_not_kept_in_part() -> None:
    token = "ghp_" + "a1B2" * 9
    for offset in range(2030, 2050):
        text = "x " * (offset // 2) + token + " tail" * 500
        masked = mask_text(text)
        assert token[:12] not in masked, offset
    block = "-----BEGIN RSA PRIVATE KEY-----\n" + "MIIEpAIBAAKCAQEA" * 300 + "\n-----END RSA PRIVATE KEY-----"
    assert "MIIEpAIBAAKCAQEA" not in mask_text("key: " + block)


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("AKIAIOSFODNN7EXAMPLE", "an AWS access key id"),
        (f"aws_secret_access_key = {AWS_SECRET}", "an AWS secret access key"),
        ("ghp_" + "a1B2" * 9, "a GitHub token"),
        ("xoxb-123456789012-abcdefghijkl", "a Slack token"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----", "a private key"),
        ("SK" + "0123456789abcdef" * 2, "a Twilio API key"),
        ("SG." + "a" * 22 + "." + "b" * 43, "a SendGrid API key"),
        ("DEPLOY_TOKEN=9fQk2LmZ7xWp4RtY8vBn3Hs6", "a secret value"),
        ("MTE4ODIwMDQxMTIyMzM0NDU2Nw.GhX2aB.p9Lq2Wm8Zr4Tn6Yv1Xc3Kd5Fs7Ga0Hb2Jc4Nd6", "a Discord bot token"),
        ("7312209981:AAH3kq9ZrT5vXw2LmN8pQ4sY6uB1cD7eF0g", "a Telegram bot token"),
        ("hf_" + "aB3dE5fG7h" * 4, "a Hugging Face token"),
        ("shpat_" + "0123456789abcdef" * 2, "a Shopify access token"),
        ("otpauth://totp/Acme:me?secret=KRSXG5CTMVRXEZLU", "a one-time password seed"),
        ("AccountName=acme;AccountKey=" + "Ab3+" * 21 + "==", "an Azure storage account key"),
    ],
)
def test_the_rules_report_each_format_by_its_label(text: str, label: str) -> None:
    assert label in [found for found, _ in find_secrets(f"send {text} now")]


@pytest.mark.parametrize(
    "text",
    ["password: is required", "token=placeholder-value-here", "see /var/run/secrets/kubernetes.io/token", "SKU 1234"],
)
def test_words_and_placeholders_are_not_secrets_to_the_rules(text: str) -> None:
    assert find_secrets(text) == []


def test_non_finite_numbers_are_stored_as_text() -> None:
    masked = mask_arguments({"a": float("nan"), "b": [float("inf"), float("-inf")], "c": 1.5})
    assert masked == {"a": "NaN", "b": ["Infinity", "-Infinity"], "c": 1.5}


def test_size_is_bounded() -> None:
    deep: object = 1
    for _ in range(40):
        deep = [deep]
    masked = mask_arguments({"big": "a" * 100_000, "many": list(range(10_000)), "deep": deep})
    assert len(masked["big"]) < 3000
    assert len(masked["many"]) == 201
    assert "nested too deep" in repr(masked["deep"])


async def test_keys_and_tokens_stay_out_of_logs_and_the_decision_log(tmp_path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    app = create_app(data_dir=tmp_path, evaluator=scripted_evaluator, config=SCRIPTED_CONFIG, clock=lambda: START)
    issued = issue_key(START)
    app.storage.add_key(issued.record)
    headers = {"Authorization": f"Bearer {issued.secret_key}"}
    arguments = {"command": f"curl -H 'Authorization: Bearer {issued.secret_key}' x", "aws": SECRETS[0]}
    try:
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://p") as client:
            body = {"tool_name": "run", "classification": "shell_exec", "arguments": arguments}
            assert (await client.post("/api/proxy/decide", json=body, headers=headers)).status_code == 200
            broken = {"tool_name": "run", "classification": "shell_exec", "arguments": {**arguments, "x": "BOOM"}}
            assert (await client.post("/api/proxy/decide", json=broken, headers=headers)).json()["decision"] == "deny"
            bad = {"Authorization": f"Bearer {issued.secret_key}x"}
            assert (await client.post("/api/proxy/decide", json=body, headers=bad)).status_code == 401
        app.flush()
        stored = [repr(entry) for entry in app.storage.recent_decisions()]
        database = b"".join(path.read_bytes() for path in tmp_path.glob("policy.sqlite3*"))
    finally:
        app.close()
    assert len(stored) == 2
    assert any("evaluation of a shell_exec call failed" in record.getMessage() for record in caplog.records)
    for secret in (issued.secret_key, SECRETS[0]):
        assert secret not in caplog.text
        assert all(secret not in entry for entry in stored)
        assert secret.encode() not in database
