"""The type stubs catch what users get wrong (issue 17, item 3): mypy
--strict passes typed code that uses the API as documented, and fails each
misuse below with the error a user would want to see."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import midge
from midge._options import OPTION_NAMES
from midge._typing import ClientOptions

GOOD = '''
import asyncio
import midge

c = midge.Client("mqtt://127.0.0.1:1883", client_id="typed", keep_alive=30, reconnect_min_delay=0.5,
                 will=midge.Will("status", b"offline", qos=1), session_store="memory",
                 user_properties=[("k", "v")], auth_method="X", auth_data=b"d")
result: midge.PublishResult = c.publish("t", b"x", qos=1)
handle: midge.PublishHandle = c.publish("t", b"x", qos=2, wait=False)
print(result.reason_code, handle.done())
c.subscribe([("a/#", 1), "b"], qos=2)

async def main() -> None:
    a = midge.AsyncClient("mqtt://127.0.0.1:1883", protocol="3.1.1", follow_redirects=True)
    done: midge.PublishResult = await a.publish("t", "text", qos=0)
    print(done, a.publish_nowait("t", qos=1))

asyncio.run(main())
'''


def mypy(tmp_path: Path, code: str) -> str:
    path = tmp_path / "snippet.py"
    path.write_text(code)
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--no-error-summary", str(path)],
        capture_output=True, text=True, cwd=tmp_path,
    )
    return out.stdout + out.stderr


def test_typed_code_that_uses_the_api_as_documented_passes(tmp_path):
    assert mypy(tmp_path, GOOD).strip() == ""


@pytest.mark.parametrize(
    "line,expected",
    [
        ('midge.Client("mqtt://h", clientid="x")', 'Unexpected keyword argument "clientid"'),
        ('midge.Client("mqtt://h", keep_alive="60")', 'Argument "keep_alive" to "Client" has incompatible type "str"'),
        ('midge.AsyncClient("mqtt://h", reconnectPeriod=1000)', 'Unexpected keyword argument "reconnectPeriod"'),
        ('midge.Client("mqtt://h").publish("t", b"x", qos=3)', 'No overload variant of "publish"'),
        ('print(midge.Client("mqtt://h").publish("t", wait=False).reason_code)',
         '"PublishHandle" has no attribute "reason_code"'),
        ('midge.Client("mqtt://h").subscribe("t", qos=5)', 'Argument "qos" to "subscribe" of "Client" has incompatible type'),
        ('midge.Will("w", qos=7)', 'Argument "qos" to "Will" has incompatible type'),
    ],
)
def test_each_misuse_is_a_type_error(tmp_path, line, expected):
    out = mypy(tmp_path, f"import midge\n{line}\n")
    assert expected in out, out


def test_the_typed_options_are_the_options_the_client_takes():
    """ClientOptions (for the checker) and the runtime check list agree."""
    assert sorted(ClientOptions.__annotations__) == sorted(OPTION_NAMES)
    assert midge.QoS is not None
