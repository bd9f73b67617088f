"""Nodes app models."""
from nodes.models.apikey import ApiKey
from nodes.models.bootimport import BootImport
from nodes.models.bootresource import BootResource, BootResourceFile
from nodes.models.config import ConfigItem
from nodes.models.event import Event
from nodes.models.hardware import BlockDevice, Interface
from nodes.models.links import InterfaceLink
from nodes.models.machine import Machine
from nodes.models.powerresult import PendingPowerRequest, PowerResultReceipt
from nodes.models.script import Script, ScriptResult, ScriptSet
from nodes.models.sshkey import SSHKey
from nodes.models.tag import Tag
from nodes.models.token import MachineToken

__all__ = ["Machine", "Interface", "BlockDevice", "Tag", "Event", "ApiKey", "BootResource",
           "BootResourceFile", "Script", "ScriptSet", "ScriptResult", "MachineToken", "SSHKey",
           "PowerResultReceipt", "PendingPowerRequest", "ConfigItem", "InterfaceLink", "BootImport"]
