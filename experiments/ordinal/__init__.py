"""The ordinal study: zero-shot rank prompts, linear probes, OrdinalCLIP and NumCLIP (README.md)."""
