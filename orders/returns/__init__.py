"""Returns (RMAs), refunds and order error cases: the after-sales side of the order workflow."""
