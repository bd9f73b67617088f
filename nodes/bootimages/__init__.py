"""Builder of the ephemeral boot image (kernel + initramfs) from Debian packages on this host."""
