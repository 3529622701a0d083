"""Database command-line clients: the SQL they are given, and whether their server is this machine.

`psql -c`, `mysql -e`, `cqlsh -e`, `clickhouse-client --query`, `snowsql -q`, `cockroach sql -e`,
`bq query '…'` and `sqlite3 app.db '…'` each take SQL as an option's value or as an operand, and a
client given none reads it from its standard input (`echo … | psql`, a heredoc). All of it is SQL
for the SQL rules, whatever the dialect: what the parser cannot read still fails closed there.

A database is scratch when its server is this machine and its name says it is for tests or
throwaway work (`shop_test`, `test_shop`, `tmp_import`, `e2e`): a developer drops and recreates
such databases all day. The server is this machine when the host given is a loopback address or
a Unix socket, or when no host is given and the command line sets none of the variables the
client would read one from. A client of a hosted service (BigQuery, Snowflake) never is, nor one
run over ssh, in a container or pod, or with an environment fetched for it (`railway run`).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import itertools
import re
import urllib.parse
from collections.abc import Iterable

from inherence_policy_server.rules._shell import ShellCommand, ShellScript, fed_text
from inherence_policy_server.rules._sql import SQL_HINT, is_scratch_database

__all__ = ["ClientSql", "client_sql", "database_drop_target"]


@dataclasses.dataclass(frozen=True)
class _Client:
    """How one client takes SQL and finds its server."""

    sql_options: frozenset[str] = frozenset()
    sql_operands: bool = False  # SQL may be an operand (`sqlite3 app.db 'DROP …'`)
    subcommand: str = ""  # `clickhouse client`, `cockroach sql`, `bq query`
    host_options: frozenset[str] = frozenset()
    value_options: frozenset[str] = frozenset()  # other options that take a value
    # What the first operand says of the server: "host" (`cqlsh host 9042`), "address" (a URL, a
    # `host=…` string or `host/db`, else a database name), "" nothing.
    first_operand: str = ""
    conninfo: frozenset[str] = frozenset()  # options whose value may be a URL or `host=…` string
    environment: tuple[str, ...] = ()  # variables the client reads its host from
    hosted: bool = False  # a hosted service: never this machine
    reads_stdin: bool = True


_PG_ENV = ("PGHOST", "PGHOSTADDR", "PGSERVICE", "PGSERVICEFILE", "PGDATABASE", "DATABASE_URL")
_MYSQL_ENV = ("MYSQL_HOST", "MYSQL_UNIX_PORT", "DATABASE_URL")
_POSTGRES = _Client(
    frozenset({"-c", "--command"}),
    host_options=frozenset({"-h", "--host"}),
    value_options=frozenset({"-U", "--username", "-p", "--port", "-d", "--dbname", "-f", "--file", "-v", "--set",
                             "--variable", "-o", "--output", "-L", "--log-file", "-P", "--pset", "-F", "-R", "-T"}),
    conninfo=frozenset({"-d", "--dbname"}),
    first_operand="address",
    environment=_PG_ENV,
)  # fmt: skip
_MYSQL = _Client(
    frozenset({"-e", "--execute"}),
    host_options=frozenset({"-h", "--host"}),
    value_options=frozenset({"-u", "--user", "-P", "--port", "-D", "--database", "-S", "--socket"}),
    environment=_MYSQL_ENV,
)
_CLICKHOUSE = _Client(
    frozenset({"-q", "--query"}),
    host_options=frozenset({"-h", "--host"}),
    value_options=frozenset({"--port", "-u", "--user", "--password", "-d", "--database", "--format", "-f"}),
    environment=("CLICKHOUSE_HOST",),
)
CLIENTS: dict[str, _Client] = {
    "psql": _POSTGRES,
    "mysql": _MYSQL,
    "mariadb": _MYSQL,
    "mycli": _MYSQL,
    "sqlite3": _Client(frozenset({"-cmd"}), sql_operands=True),
    "duckdb": _Client(frozenset({"-c", "-cmd", "-s"}), sql_operands=True),
    "cqlsh": _Client(frozenset({"-e", "--execute"}), first_operand="host",
                     value_options=frozenset({"-u", "--username", "-p", "--password", "-k", "--keyspace", "-f",
                                              "--file", "--cqlversion", "--protocol-version", "--connect-timeout",
                                              "--request-timeout", "--encoding"}),
                     environment=("CQLSH_HOST",)),
    "clickhouse-client": _CLICKHOUSE,
    "clickhouse": dataclasses.replace(_CLICKHOUSE, subcommand="client|local"),
    "clickhouse-local": _CLICKHOUSE,
    "cockroach": _Client(frozenset({"-e", "--execute"}), subcommand="sql",
                         host_options=frozenset({"--host"}), conninfo=frozenset({"--url"}),
                         value_options=frozenset({"-u", "--user", "-d", "--database", "--port", "--certs-dir"}),
                         environment=("COCKROACH_HOST", "COCKROACH_URL")),
    "usql": _Client(frozenset({"-c", "--command"}), hosted=True),
    "snowsql": _Client(frozenset({"-q", "--query"}), hosted=True),
    "bq": _Client(subcommand="query", sql_operands=True, hosted=True, reads_stdin=False),
    "sqlcmd": _Client(frozenset({"-Q", "-q"}), hosted=True),
    "trino": _Client(frozenset({"--execute"}), hosted=True),
    "presto": _Client(frozenset({"--execute"}), hosted=True),
    "spark-sql": _Client(frozenset({"-e"}), hosted=True),
    "hive": _Client(frozenset({"-e"}), hosted=True),
    "beeline": _Client(frozenset({"-e"}), hosted=True),
    "impala-shell": _Client(frozenset({"-q", "--query"}), hosted=True),
    "vsql": _Client(frozenset({"-c", "--command"}), hosted=True),
}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class ClientSql:
    """SQL a client is given, and whether its server is this machine."""

    text: str
    local: bool


def client_sql(script: ShellScript, assigned: Iterable[str] = ()) -> list[ClientSql]:
    """The SQL every database client of `script` is given, in its options, operands or standard input."""
    found: list[ClientSql] = []
    names = frozenset(assigned)
    fed: dict[int, str] = {}
    for pipeline in script.pipelines:
        for earlier, later in itertools.pairwise(pipeline):
            text = fed_text(earlier)
            if text is not None:
                fed[id(later)] = text
    for command in script.commands:
        client = CLIENTS.get(command.name)
        words = _after_subcommand(command, client) if client is not None else None
        if client is None or words is None:
            continue
        local = not command.elsewhere and _is_local(client, words, names)
        texts = _sql_words(client, words)
        if not texts and client.reads_stdin:
            stdin = [value for op, value in command.redirects if op in ("<<", "<<-", "<<<")]
            stdin.extend([fed[id(command)]] if id(command) in fed else [])
            texts = [text for text in stdin if SQL_HINT.search(text)]
        found.extend(ClientSql(text, local) for text in texts)
    return found


def _after_subcommand(command: ShellCommand, client: _Client) -> list[str] | None:
    words = list(command.argv[1:])
    if not client.subcommand:
        return words
    for index, word in enumerate(words):
        if word in client.subcommand.split("|"):
            return words[index + 1 :]
    return None


def _sql_words(client: _Client, words: list[str]) -> list[str]:
    found: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        name, equals, inline = word.partition("=")
        if word in client.sql_options:
            found.extend(words[index + 1 : index + 2])
            index += 2
            continue
        if word.startswith("--") and equals and name in client.sql_options:
            found.append(inline)
        elif _attached(word, client.sql_options) is not None:
            found.append(_attached(word, client.sql_options) or "")
        elif word in client.value_options or word in client.host_options or word in client.conninfo:
            index += 1
        elif client.sql_operands and not word.startswith("-") and SQL_HINT.search(word):
            found.append(word)
        index += 1
    return found


def _attached(word: str, options: frozenset[str]) -> str | None:
    """`-eDROP TABLE t` or `-hdb.prod`: a one-letter option with its value in the same word."""
    if word.startswith("--") or len(word) <= 2:
        return None
    return word[2:] if word[:2] in options else None


def _is_local(client: _Client, words: list[str], assigned: frozenset[str]) -> bool:
    if client.hosted:
        return False
    hosts: list[str | None] = []
    operands: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        name, equals, inline = word.partition("=")
        value = words[index + 1] if index + 1 < len(words) else ""
        if word in client.host_options or word in client.conninfo:
            hosts.append(_address_host(value) if word in client.conninfo else value)
            index += 2
            continue
        if word.startswith("--") and equals and (name in client.host_options or name in client.conninfo):
            hosts.append(_address_host(inline) if name in client.conninfo else inline)
        elif _attached(word, client.host_options) is not None:
            hosts.append(_attached(word, client.host_options) or "")
        elif word in client.value_options or word in client.sql_options:
            index += 1
        elif not word.startswith("-"):
            operands.append(word)
        index += 1
    if client.first_operand == "host" and operands:
        hosts.append(operands[0])
    elif client.first_operand == "address" and operands:
        hosts.append(_address_host(operands[0]))
    given = [host for host in hosts if host is not None]
    if not given and assigned & set(client.environment):
        return False
    return all(is_loopback_host(host) for host in given)


_CONNINFO_HOST = re.compile(r"(?:^|\s)host(?:addr)?\s*=\s*'?([^\s']*)")


def _address_host(value: str) -> str | None:
    """The host `postgresql://u@host:5432/db`, `host=… dbname=…` or `host:port/db` names; None: none.

    A value the command only knows when it runs (`$DATABASE_URL`) is its own host, never a local one.
    """
    if "$" in value or "`" in value:
        return value
    if "://" in value:
        try:
            parsed = urllib.parse.urlsplit(value)
        except ValueError:
            return value
        netloc = parsed.netloc.rpartition("@")[2]
        if not netloc:
            return urllib.parse.parse_qs(parsed.query).get("host", [None])[0]
        # Several hosts (`h1:5432,h2:5432`, a replica set): each must be local.
        return ",".join(part.rsplit(":", 1)[0] if not part.startswith("[") else part for part in netloc.split(","))
    if "=" in value:
        found = _CONNINFO_HOST.search(value)
        return found.group(1) if found is not None else None
    return value.partition("/")[0] if "/" in value else None


def is_loopback_host(host: str) -> bool:
    """A loopback name or address, or a Unix socket path; anything with a variable in it is not."""
    if "," in host:
        return all(is_loopback_host(part) for part in host.split(","))
    text = host.strip().strip("'\"").lower()
    if not text or "$" in text or "`" in text:
        return not text
    if text.startswith("/"):
        return True  # a Unix socket directory
    if text.startswith("["):
        text = text[1:].partition("]")[0]  # [::1]:5432
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]  # host:port
    if text in ("localhost", "localhost.localdomain", "ip6-localhost") or text.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


# Clients that drop a database by name, with how they find the server: `dropdb`, `mysqladmin drop`, mongosh.
_DROP_CLIENTS: dict[str, _Client] = {
    "dropdb": dataclasses.replace(_POSTGRES, sql_options=frozenset(),
                                  conninfo=frozenset({"--maintenance-db"})),
    "mysqladmin": _MYSQL,
    "mariadb-admin": _MYSQL,
    "mongosh": _Client(host_options=frozenset({"--host"}), first_operand="address",
                       value_options=frozenset({"--port", "-u", "--username", "-p", "--password", "--eval", "-f",
                                                "--file", "--authenticationDatabase", "--apiVersion"}),
                       environment=("MONGODB_URI", "MONGO_URL")),
}  # fmt: skip
_DROP_CLIENTS["mongo"] = _DROP_CLIENTS["mongosh"]
# Code that could reach another database than the one mongosh was started on.
_OTHER_DATABASE = re.compile(r"getSiblingDB|getDB|getMongo|\bMongo\s*\(|\bconnect\s*\(|\buse\b|adminCommand|runCommand")


def database_drop_target(command: ShellCommand, assigned: Iterable[str] = ()) -> str | None:
    """What a database-dropping client drops, or None when it is a scratch database on this machine."""
    client = _DROP_CLIENTS.get(command.name)
    shown = " ".join(command.argv[1:])[:120] or command.name
    if client is None:
        return shown
    words = list(command.argv[1:])
    local = not command.elsewhere and _is_local(client, words, frozenset(assigned))
    operands = _operands(client, words)
    if command.name in ("mongosh", "mongo"):
        names = [_mongo_database(operands[0] if operands else "")]
        code = " ".join(words[index + 1] for index, word in enumerate(words[:-1]) if word == "--eval")
        if not code or _OTHER_DATABASE.search(code):
            return shown
    elif command.name == "dropdb":
        names = operands[-1:]
    else:
        names = operands[operands.index("drop") + 1 :] if "drop" in operands else []
    if local and names and all(is_scratch_database(name) for name in names):
        return None
    return shown


def _operands(client: _Client, words: list[str]) -> list[str]:
    operands: list[str] = []
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word in client.value_options or word in client.host_options or word in client.conninfo:
            skip = True
        elif not word.startswith("-"):
            operands.append(word)
    return operands


def _mongo_database(address: str) -> str:
    """The database of `mongodb://host:27017/shop_test?…`, `host/shop_test` or `shop_test`."""
    if "://" in address:
        path = urllib.parse.urlsplit(address).path.strip("/")
        return path or "test"  # mongosh's default database is `test`
    return address.rpartition("/")[2] or "test"
