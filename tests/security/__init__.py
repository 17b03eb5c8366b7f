"""Attacks an untrusted change can make, each pushed through the real system
(issue 15): one test per attack, asserting on what the attacker would see."""
