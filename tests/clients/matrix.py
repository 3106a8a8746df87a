"""What the Python scenarios of the client matrix share (tests/client_matrix.rs
runs them; tests/clients/<client>/scenario.py each speak one client): the step
bound, the record format and its check, the output of steps and failures, and
the dispatch of the two phases.

Phase `first`: create the topic, produce records 0..100, read them in the
group, commit. Phase `second` (after a broker restart): produce 100..150, read
exactly those in the group (older ones mean the commits were lost), then the
admin calls, and `ok` last.
"""

import sys

STEP_SECONDS = 60
PARTITIONS = 3
FIRST = range(0, 100)
SECOND = range(100, 150)

_client = "client"


def step(text):
    print(text, flush=True)


def fail(reason):
    print(f"{_client}: {reason}", file=sys.stderr, flush=True)
    sys.exit(1)


def check_record(key, value, expected, seen):
    """A record of this phase, `k<i>` = `<client>:<i>`, seen once."""
    key, value = (key or b"").decode(), (value or b"").decode()
    client, _, number = value.partition(":")
    if client != _client or not number.isdigit():
        fail(f"unexpected record {key}={value}")
    index = int(number)
    if index not in expected:
        fail(f"record {value} is not one of this phase's: committed offsets lost?")
    if index in seen:
        fail(f"record {value} delivered twice")
    if key != f"k{index}":
        fail(f"record {value} has key {key}")
    seen.add(index)


def run(client, first, second):
    """Runs `first` or `second` (each taking bootstrap, topic and group) as
    the command line asks; any client error ends the scenario with its reason."""
    global _client
    _client = client
    if len(sys.argv) != 5 or sys.argv[1] not in ("first", "second"):
        fail("usage: run <first|second> <bootstrap> <topic> <group>")
    phase, bootstrap, topic, group = sys.argv[1:]
    try:
        (first if phase == "first" else second)(bootstrap, topic, group)
    except Exception as error:
        fail(f"{type(error).__name__}: {error!r}")
    if phase == "second":
        step("ok")
