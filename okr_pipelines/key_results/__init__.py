"""The key_results/values asset and its checks."""
