"""The architectures a machine or a boot image may have: MAAS's `arch/subarch` names."""
import re

from django.core.exceptions import ValidationError

# Primary architectures, Debian names as 10-cpu reports them and boot images are published.
ARCHES = ("amd64", "arm64", "armhf", "i386", "ppc64el", "riscv64", "s390x")
# Subarchitectures besides `generic` and the kernel flavours (ga-22.04, hwe-24.04-edge...).
SUBARCHES = {
    "arm64": frozenset({"xgene", "xgene-uboot", "xgene-uboot-mustang", "thunderx"}),
    "armhf": frozenset({"highbank", "keystone", "omap4", "exynos5"}),
}
_FLAVOUR = re.compile(r"(?:ga|hwe)-\d{2}\.\d{2}(?:-edge)?")
DEFAULT = "amd64/generic"


def normalise_architecture(value) -> str:
    """`arch/subarch` from a known architecture, `generic` when only `arch` is given."""
    text = value if isinstance(value, str) else ""
    arch, slash, sub = text.partition("/")
    sub = sub if slash else "generic"
    known = arch in ARCHES and (sub == "generic" or sub in SUBARCHES.get(arch, ())
                                or _FLAVOUR.fullmatch(sub))
    if not known:
        raise ValidationError(
            f"Unknown architecture {value!r}; one of {', '.join(ARCHES)}, each as arch/generic "
            "(or a subarchitecture such as arm64/xgene or amd64/hwe-24.04).",
            code="unknown_architecture")
    return f"{arch}/{sub}"


def validate_architecture(value) -> None:
    """Model validator: a known architecture in its full `arch/subarch` form."""
    if normalise_architecture(value) != value:
        raise ValidationError(f"Give the architecture as {normalise_architecture(value)}.",
                              code="unknown_architecture")


def validate_known_architecture(value) -> None:
    """Model validator: a known architecture, `arch` alone or `arch/subarch` (boot images)."""
    normalise_architecture(value)
