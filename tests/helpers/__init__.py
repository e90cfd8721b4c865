"""Helpers the tests share, one module per need: images, servers and processes, ports, data, jobs, databases."""
