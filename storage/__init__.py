"""echowall's storage: records, the repository protocol, the store engine interface and its
two engines (the durable journal in TinyDB's format, and memory)."""
