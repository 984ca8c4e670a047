"""echowall's storage: records, the repository protocol and its TinyDB implementation."""
