"""Analytics over what the store recorded: usage (O1)."""
