"""Partners (the apps that integrate Stepwise) and their API keys."""
