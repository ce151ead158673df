"""/api/v1 REST for objectives, key results and check-ins, scoped to the caller's tenant."""
