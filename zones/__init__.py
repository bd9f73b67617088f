"""Where things are: zones, pools, fabrics, VLANs, subnets, IP ranges, rack controllers."""
