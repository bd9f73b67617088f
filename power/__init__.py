"""Power control: BMC records and services (region side); drivers in power.drivers (rack side)."""
