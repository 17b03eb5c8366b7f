"""Ansible plugins loaded only for untrusted playbooks."""
