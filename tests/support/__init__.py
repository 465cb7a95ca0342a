"""Real local servers and helpers that tests share."""
