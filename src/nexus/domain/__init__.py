"""Typed data of Nexus: plans, runs, steps, events, messages, agents. No I/O here."""
