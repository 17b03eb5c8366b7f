"""Running zuulish as components on many hosts: who is alive, who leads, what to redo."""
