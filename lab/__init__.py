"""The lab: qemu VMs with virtual IPMI BMCs and racks in network namespaces, for tests and demos.

It drives the region only through processes and HTTP (never its models); `python -m lab`.
"""
