"""Programs that run a command somewhere else, or here with an environment fetched for it.

`ssh host 'cmd'`, `kubectl exec pod -- cmd`, `docker exec c cmd`, `flyctl ssh console -C 'cmd'`,
`heroku run cmd`, `gcloud compute ssh vm --command 'cmd'`, `az vm run-command invoke --scripts
'cmd'` and `aws ecs execute-command --command 'cmd'` run a command on another machine or in a
container: what it does there is as real as what it would do here, and is read the same way.
`railway run cmd`, `doppler run -- cmd` or `op run -- cmd` run it here, with the project's
secrets put into its environment. Each function returns what runs, or None for other forms.
"""

from __future__ import annotations

import json
import shlex

__all__ = ["REMOTE_PROGRAMS", "injected_command", "remote_runs"]

# ssh: options that take a value, then the host, then shell text for the remote shell.
_SSH_VALUE_OPTIONS = frozenset({"-B", "-b", "-c", "-D", "-E", "-e", "-F", "-I", "-i", "-J", "-L", "-l", "-m", "-O",
                                "-o", "-p", "-Q", "-R", "-S", "-W", "-w"})  # fmt: skip
# `<runtime> exec [options] <container> <command...>`: options that take a value.
_EXEC_VALUE_OPTIONS = frozenset({"-e", "--env", "--env-file", "-u", "--user", "-w", "--workdir", "--detach-keys",
                                 "--index"})  # fmt: skip
_CONTAINER_RUNTIMES = frozenset({"docker", "podman", "nerdctl", "crictl"})
_COMPOSE = frozenset({"docker-compose", "podman-compose"})
_FLY_VALUE_OPTIONS = frozenset({"-a", "--app", "-c", "--config", "-r", "--region", "-u", "--user", "-o", "--org",
                                "--machine", "--process-group", "-A", "--address", "--timeout"})  # fmt: skip
_HEROKU_VALUE_OPTIONS = frozenset({"-a", "--app", "-r", "--remote", "-s", "--size", "-e", "--env", "--type"})
_HEROKU_RUN = frozenset({"run", "run:detached", "run:inside"})
_CLOUD_HOSTS = frozenset({"lxc", "incus", "multipass"})
# Programs whose runs happen on another machine or in a container, or with secrets fetched into their environment.
REMOTE_PROGRAMS = frozenset({"ssh", "kubectl", "oc", "fly", "flyctl", "heroku", "gcloud", "az", "aws", "vagrant",
                             "eb", *_CONTAINER_RUNTIMES, *_COMPOSE, *_CLOUD_HOSTS})  # fmt: skip
# `<runner> <subcommand> [options] [--] <command...>`: the command runs here with the project's secrets in its
# environment. (subcommand, options that take a value, positional words before the command).
_INJECTORS: dict[str, tuple[str, frozenset[str], int]] = {
    "railway": ("run", frozenset({"-s", "--service", "-e", "--environment"}), 0),
    "doppler": ("run", frozenset({"-p", "--project", "-c", "--config", "--mount", "--name-transformer", "-t",
                                  "--token", "--fallback", "--mount-format"}), 0),
    "infisical": ("run", frozenset({"--env", "--path", "--projectId", "--token", "--tags", "--domain"}), 0),
    "op": ("run", frozenset({"--env-file", "--account", "--environment"}), 0),
    "dotenvx": ("run", frozenset({"-f", "--env-file", "-e", "--env", "-fk", "--env-keys-file"}), 0),
    "aws-vault": ("exec", frozenset({"-d", "--duration", "--region", "-t", "--mfa-token", "--duration-seconds"}), 1),
}  # fmt: skip


def skip_options(rest: list[str], takes_value: frozenset[str], positional: int) -> list[str]:
    """The words after the options (a value option's value skipped) and `positional` operands."""
    index = 0
    while index < len(rest):
        word = rest[index]
        if word == "--":
            index += 1
            break
        if not word.startswith("-") or word == "-":
            break
        index += 2 if word in takes_value else 1
    return rest[index + positional :]


def _option_values(words: list[str], names: frozenset[str], *, many: bool = False) -> list[str]:
    """Values of `--name value` and `--name=value`; with `many`, every word up to the next option."""
    found: list[str] = []
    for index, word in enumerate(words):
        name, equals, inline = word.partition("=")
        if equals and name in names and name.startswith("--"):
            found.append(inline)
        elif word in names:
            following = words[index + 1 :]
            end = next((at for at, item in enumerate(following) if item.startswith("-")), len(following))
            found.extend(following[:end] if many else following[:1])
    return found


def _operands(words: list[str], takes_value: frozenset[str]) -> list[str]:
    """Words that are neither options nor their values, wherever they stand (`heroku run cmd -a app`)."""
    found: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        if word == "--":
            return found + words[index + 1 :]
        if word.startswith("-") and word != "-":
            index += 2 if word in takes_value else 1
            continue
        found.append(word)
        index += 1
    return found


def remote_runs(name: str, argv: list[str]) -> list[tuple[str, str]] | None:
    """(language, code) that `argv` runs on another machine or in a container, or None."""
    words = argv[1:]
    text: str | None = None
    if name == "ssh":
        text = " ".join(skip_options(words, _SSH_VALUE_OPTIONS, 1)) or None
    elif name in ("kubectl", "oc") and "exec" in words[:3] and "--" in words:
        text = shlex.join(words[words.index("--") + 1 :]) or None
    elif name == "oc" and words[:1] == ["rsh"]:
        text = shlex.join(skip_options(words[1:], frozenset({"-c", "--container"}), 1)) or None
    elif name in _CONTAINER_RUNTIMES or name in _COMPOSE:
        start = {("exec",): 1, ("container", "exec"): 2, ("compose", "exec"): 2}
        skip = next((size for prefix, size in start.items() if tuple(words[: len(prefix)]) == prefix), 0)
        rest = skip_options(words[skip:], _EXEC_VALUE_OPTIONS, 1) if skip else []
        text = shlex.join(rest) or None
    elif name in _CLOUD_HOSTS and words[:1] == ["exec"]:
        rest = words[words.index("--") + 1 :] if "--" in words else skip_options(words[1:], frozenset(), 1)
        text = shlex.join(rest) or None
    elif name in ("fly", "flyctl"):
        text = _fly(words)
    elif name == "heroku" and words[:1] and words[0] in _HEROKU_RUN:
        operands = _operands(words[1:], _HEROKU_VALUE_OPTIONS)
        text = " ".join(operands[1:] if words[0] == "run:inside" else operands) or None
    elif name in ("gcloud", "vagrant", "eb") and "ssh" in words:
        commands = _option_values(words, frozenset({"--command"} | ({"-c"} if name != "gcloud" else set())))
        after = words[words.index("--") + 1 :] if name == "gcloud" and "--" in words else []
        text = "\n".join(commands) or " ".join(skip_options(after, _SSH_VALUE_OPTIONS, 0)) or None
    elif name == "az" and "run-command" in words and ("invoke" in words or "create" in words):
        return _az_scripts(words)
    elif name == "aws":
        text = _aws(words)
    return [("shell", text)] if text else None


def _fly(words: list[str]) -> str | None:
    """`fly ssh console -C 'cmd'` and `fly machine exec [id] 'cmd'`."""
    if words[:2] == ["ssh", "console"]:
        return "\n".join(_option_values(words, frozenset({"-C", "--command"}))) or None
    if words[:1] in (["machine"], ["machines"], ["m"]) and words[1:2] == ["exec"]:
        operands = _operands(words[2:], _FLY_VALUE_OPTIONS)
        return operands[-1] if operands else None
    return None


def _az_scripts(words: list[str]) -> list[tuple[str, str]] | None:
    """`az vm run-command invoke --command-id RunShellScript --scripts 'cmd' …` (PowerShell for Windows VMs)."""
    scripts = _option_values(words, frozenset({"--scripts", "--script"}), many=True)
    command_id = " ".join(_option_values(words, frozenset({"--command-id"}))).casefold()
    language = "powershell" if "powershell" in command_id else "shell"
    return [(language, "\n".join(scripts))] if scripts else None


def _aws(words: list[str]) -> str | None:
    """`aws ecs execute-command --command 'cmd'` and `aws ssm send-command --parameters commands=…`."""
    if "execute-command" in words:
        return "\n".join(_option_values(words, frozenset({"--command"}))) or None
    if "send-command" not in words:
        return None
    commands: list[str] = []
    for value in _option_values(words, frozenset({"--parameters"})):
        text = value.strip()
        if text.startswith("{"):
            try:
                parsed = json.loads(text)
            except ValueError:
                return text  # read as shell: what it names still counts
            listed = parsed.get("commands", []) if isinstance(parsed, dict) else []
            commands.extend(item for item in listed if isinstance(item, str))
        elif text.startswith("commands="):
            listed_text = text.partition("=")[2]
            try:
                listed = json.loads(listed_text) if listed_text.startswith("[") else [listed_text]
            except ValueError:
                listed = [listed_text.strip("[]")]
            commands.extend(item for item in listed if isinstance(item, str))
    return "\n".join(commands) or None


def injected_command(name: str, argv: list[str]) -> tuple[list[str], str | None] | None:
    """(argv, shell text) that `railway run`, `doppler run`, `op run`… run with secrets in their environment."""
    runner = _INJECTORS.get(name)
    if runner is None or argv[1:2] != [runner[0]]:
        return None
    _, takes_value, positional = runner
    text = "\n".join(_option_values(argv[2:], frozenset({"--command"})))
    if text:
        return [], text
    rest = skip_options(argv[2:], takes_value, positional)
    rest = rest[1:] if rest[:1] == ["--"] else rest
    return (rest, None) if rest else None
