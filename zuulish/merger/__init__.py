"""The merger: repo cache, speculative states with git plumbing, merge requests."""
