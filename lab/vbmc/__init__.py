"""Virtual BMCs: IPMI 2.0 servers on pyghmi with in-memory or qemu (QMP) backends."""
