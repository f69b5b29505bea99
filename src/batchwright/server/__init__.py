"""The local OpenAI-compatible batch server (emulator with fault injection)."""
