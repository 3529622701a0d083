import pathlib

import anyio

from inherence_policy_client import DecideRequest, Verdict
from inherence_proxy._home import ProxyHome
from inherence_proxy._policy import PolicyTarget, open_policy

WIPE = DecideRequest(tool_name="shell__run", classification="shell_exec", arguments={"command": "rm -rf ~"})
EMBEDDED = PolicyTarget(api_key=None, endpoint="embedded")


async def verdict_once_settled(client, wanted: Verdict) -> Verdict:
    verdict = (await client.decide(WIPE)).decision
    for _ in range(500):  # the follower polls every 0.05 s: ten seconds at most
        if verdict is wanted:
            break
        await anyio.sleep(0.02)
        verdict = (await client.decide(WIPE)).decision
    return verdict


async def test_the_embedded_policy_follows_rule_changes_without_a_restart(tmp_path: pathlib.Path) -> None:
    home = ProxyHome(tmp_path / "home")
    async with open_policy(EMBEDDED, home, rules_poll=0.05) as client:
        assert (await client.decide(WIPE)).decision is Verdict.DENY
        home.rules_path.write_text('[mass_destruction]\nmode = "off"\n')
        assert await verdict_once_settled(client, Verdict.ALLOW) is Verdict.ALLOW
        home.rules_path.write_text('[mass_destruction]\nmode = "sideways"\n')
        await anyio.sleep(0.3)
        assert (await client.decide(WIPE)).decision is Verdict.ALLOW, "a broken file keeps the rules in force"
        home.rules_path.unlink()
        assert await verdict_once_settled(client, Verdict.DENY) is Verdict.DENY


def test_a_change_made_before_the_follower_runs_is_still_seen(tmp_path: pathlib.Path) -> None:
    # The stamp is the one taken before the rules were read: a thread that starts late must not adopt
    # the changed file's stamp as the one already in force.
    import threading

    from inherence_proxy._policy import _RulesFollower, _stamp

    path = tmp_path / "rules.toml"
    path.write_text("[mass_destruction]\nbulk_delete_threshold = 10\n")
    loaded = _stamp(path)
    path.write_text('[mass_destruction]\nbulk_delete_threshold = 10\n[credential_access]\nmode = "off"\n')
    reloaded = threading.Event()

    class Policy:
        def replace_config(self, rules, *, source: str) -> list[str]:
            reloaded.set()
            return []

    with _RulesFollower(Policy(), path, 0.01, loaded):
        assert reloaded.wait(10)
