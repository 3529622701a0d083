"""Live rule settings in the storage: published by one server, applied by the others, bad ones kept out."""

from __future__ import annotations

import time

from inherence_policy_server._live_rules import LiveRules, publish_rules, rules_version
from inherence_policy_server._rules import default_rules_config
from inherence_policy_server.rules import RulesConfig

from .conftest import START


def _limit(config: RulesConfig, cents: int) -> RulesConfig:
    section = config.financial_drain.model_copy(update={"per_call_limit_cents": cents})
    return config.model_copy(update={"financial_drain": section})


def test_a_published_change_is_applied_by_other_followers_once(any_storage) -> None:
    applied: list[RulesConfig] = []
    here = LiveRules(any_storage, applied.append)
    there: list[RulesConfig] = []
    other = LiveRules(any_storage, there.append)
    assert rules_version(any_storage) == 0
    assert not other.check()

    changed = _limit(default_rules_config(), 1234)
    assert here.publish(changed, START) == 1
    assert not here.check()  # its own change is in force already
    assert other.check()
    assert [config.financial_drain.per_call_limit_cents for config in there] == [1234]
    assert not other.check()  # once
    assert applied == []


def test_settings_that_do_not_validate_are_kept_out(any_storage) -> None:
    there: list[RulesConfig] = []
    follower = LiveRules(any_storage, there.append)
    publish_rules(any_storage, default_rules_config(), START)
    with any_storage.write() as db:
        db.execute("UPDATE rule_settings SET version = 7, config = ?", ('{"financial_drain": {"mode": "maybe"}}',))
    assert not follower.check()
    assert there == []
    publish_rules(any_storage, _limit(default_rules_config(), 99), START)
    assert follower.check()
    assert there[-1].financial_drain.per_call_limit_cents == 99


def test_the_follower_thread_applies_a_change_without_being_asked(any_storage) -> None:
    there: list[RulesConfig] = []
    follower = LiveRules(any_storage, there.append)
    follower.start()
    try:
        if getattr(any_storage, "dialect", "") == "postgresql":
            # On PostgreSQL the follower waits on LISTEN (a change wakes it) rather than only polling.
            deadline = time.monotonic() + 60
            listening = "SELECT count(*) FROM pg_stat_activity WHERE query = 'LISTEN inherence_rules'"
            while any_storage.read(listening) != [(1,)]:
                assert time.monotonic() < deadline, "the follower never listened"
                time.sleep(0.02)
        publish_rules(any_storage, _limit(default_rules_config(), 4321), START)
        deadline = time.monotonic() + 60
        while not there:
            assert time.monotonic() < deadline, "the follower never applied the change"
            time.sleep(0.02)
        assert there[0].financial_drain.per_call_limit_cents == 4321
    finally:
        follower.close()
