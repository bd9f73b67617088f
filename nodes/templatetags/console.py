"""Template filters every console page shares: a status's colour group, sizes for people."""
from django import template

from nodes.lifecycle import STATUS_GROUPS

register = template.Library()


def status_group(status: int) -> str:
    """failed, progress, ready, deployed or other."""
    for group, statuses in STATUS_GROUPS.items():
        if status in statuses:
            return group
    return "other"


@register.filter
def status_class(status: int) -> str:
    """The CSS class of a machine status (base.html's .status-*)."""
    return f"status-{status_group(int(status))}"


@register.filter
def human_bytes(value) -> str:
    """1536 -> "1.5 KiB"; empty for None."""
    if value in (None, ""):
        return ""
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""
