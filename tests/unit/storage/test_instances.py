"""The instance registry: entries kept fresh by heartbeats, gone when stopped or dead."""

from __future__ import annotations

import os

from vallum.clock import FakeClock
from vallum.storage import open_storage
from vallum.storage.instances import HEARTBEAT, InstanceInfo, InstanceRegistry


async def test_instances_see_each_other_until_they_stop_or_die() -> None:
    clock = FakeClock()
    storage = await open_storage("memory://", clock=clock)
    one = InstanceRegistry(storage, clock, "gw-a")
    two = InstanceRegistry(storage, clock, "gw-b")
    await one.start()
    await two.start()
    try:
        assert {i.name for i in await one.instances()} == {"gw-a", "gw-b"}
        assert [i.name for i in await one.others()] == ["gw-b"]
        assert one.me.id != two.me.id and one.me.pid == os.getpid()
        await two.stop()  # a clean stop removes the entry at once
        assert await one.others() == []
        three = InstanceRegistry(storage, clock, "gw-c")
        await three._beat()  # one heartbeat, then silence: it died without stopping
        assert [i.name for i in await one.others()] == ["gw-c"]
        clock.advance(3 * HEARTBEAT + 0.1)
        await one._beat()
        assert await one.others() == []  # its entry lapsed after three missed heartbeats
    finally:
        await one.stop()
        await storage.close()


def test_an_entry_of_this_host_whose_process_is_gone_counts_as_dead() -> None:
    gone = InstanceInfo("x", "x", os.uname().nodename, 2**22 + 7, 0.0, 0.0)  # above pid_max
    assert not gone.alive_here()
    assert InstanceInfo("y", "y", "another-host", 1, 0.0, 0.0).alive_here()
    assert InstanceInfo("z", "z", os.uname().nodename, os.getpid(), 0.0, 0.0).alive_here()
