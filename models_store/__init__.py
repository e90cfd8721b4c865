"""Model architectures (the lab's three networks), checkpoint files, and the shipped default models."""
