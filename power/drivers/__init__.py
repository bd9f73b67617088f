"""BMC driver library (rack side): no ORM, no region models. Drivers arrive with the power issue."""
