"""Notifiers: the channels alerts reach people through (DingTalk, Feishu, WeCom, voice calls).

Only :class:`oms.adapters.notifiers.sink.NotifyingAlertSink` uses them: producers hand alerts to
the ``AlertSink`` port and never name a channel (see ``docs/notifiers.md``).
"""
