"""Power services (region side): BMC parameters and power dispatch."""
