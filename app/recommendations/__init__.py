"""Next-step recommendations: from stored history, or from sessions sent in the request."""
