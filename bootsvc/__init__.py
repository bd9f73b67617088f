"""Boot services on a rack: DHCP, TFTP and HTTP boot (rack side, no region models)."""
