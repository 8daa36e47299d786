"""What an operator set survives a restart of the host: mutes, the current product, the paused state."""
from __future__ import annotations

from danmaku.admin.commands import Actor
from host.app import Host
from tests.host_config import small_host_config


def _host(tmp_path) -> Host:
    host = Host(small_host_config(tmp_path, "[console]\nenabled = false\n"))
    host.build()
    return host


async def test_mutes_product_and_pause_survive_a_restart(tmp_path):
    host = _host(tmp_path)
    dispatcher = host.chat.dispatcher
    for command in ("/mute 4567890 30", "/product p-breeze-buds", "/pause"):
        result = await dispatcher.execute_text(command, Actor.console("op"))
        assert result.result == "ok", (command, result)
    host.store.close()

    again = _host(tmp_path)
    assert again.chat.moderator.is_muted(4567890)
    assert again.store.current_product().id == "p-breeze-buds"
    assert again.director.paused
    again.store.close()
