"""The executor: prepares a build's workspace and runs its playbooks with
ansible-runner (pre-run, run, post-run, cleanup-run), writing Zuul-style logs."""
