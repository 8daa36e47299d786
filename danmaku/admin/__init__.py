"""Admin commands: parsing, authorization, auditing and dispatch (from chat, the console and HTTP)."""
from danmaku.admin.audit import AuditLog, AuditRecord, JsonlAuditLog, MemoryAuditLog
from danmaku.admin.commands import Actor, AdminCommand, CommandError, CommandName, parse_command
from danmaku.admin.dispatcher import AdminDispatcher, AdminPolicy, AdminResult

__all__ = ["Actor", "AdminCommand", "AdminDispatcher", "AdminPolicy", "AdminResult", "AuditLog", "AuditRecord",
           "CommandError", "CommandName", "JsonlAuditLog", "MemoryAuditLog", "parse_command"]
