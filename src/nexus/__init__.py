"""Nexus: a durable control plane for teams of LLM agents that do software work."""

__version__ = "0.1.0"
