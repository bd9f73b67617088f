"""DHCP server of the rack's boot services (RFC 2131/2132, PXE, iPXE, UEFI HTTP boot)."""
