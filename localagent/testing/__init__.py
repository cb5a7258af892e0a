"""Fakes that speak real protocols over loopback, for tests, benchmarks and demos."""
